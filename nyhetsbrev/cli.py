"""The command line: parse options, call the stages, print. Heavy imports happen inside commands."""

from __future__ import annotations

import time
from pathlib import Path

import click

ROOT = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=".",
                    show_default=True, help="The content tree (holds newsletter.toml).")
STRICT = click.option("--strict", is_flag=True, help="Treat warnings as errors.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nyhetsbrev")
def cli() -> None:
    """Nyhetsbrev: Markdown items to email issues, a web archive, feeds and a calendar.

    \b
    Example:
        python build.py build
    """


def _warn(warnings) -> None:
    for problem in warnings:
        click.echo(str(problem), err=True)


@cli.command()
@ROOT
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: public/ under the root).")
@STRICT
@click.option("--emit-mjml", is_flag=True, help="Also write each issue's email.mjml.")
def build(root: Path, out: Path | None, strict: bool, emit_mjml: bool) -> None:
    """Build every issue, the archive, feeds and calendar into the output folder.

    Nothing is written unless everything checks; the old output stays until the new one is
    complete.

    \b
    Example:
        python build.py build --root . --out public
    """
    from .pipeline import build as run, summary

    started = time.perf_counter()
    checked, count = run(root, out or root / "public", strict, emit_mjml)
    _warn(checked.warnings)
    n = summary(checked.content)
    click.echo(f"Klart: {n['issues']} nummer, {n['items']} texter ({n['events']} evenemang), "
               f"{count} filer i {out or root / 'public'} på {time.perf_counter() - started:.2f} s")


@cli.command()
@ROOT
@STRICT
def check(root: Path, strict: bool) -> None:
    """Check every file and report all problems as path:line: message; write nothing.

    \b
    Example:
        python build.py check --strict
    """
    from .pipeline import load_content, render_all, summary

    checked = load_content(root, strict)
    render_all(checked.content)
    _warn(checked.warnings)
    n = summary(checked.content)
    click.echo(f"Inga fel: {n['issues']} nummer, {n['items']} texter"
               + (f", {len(checked.warnings)} varningar" if checked.warnings else ""))
