"""The command line as a user meets it: help, examples, README, overrides, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from nyhetsbrev.cli import cli

from .conftest import REPO


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
    return found


@pytest.mark.parametrize("name,command", commands(cli), ids=lambda v: str(v))
def test_every_command_has_an_example_and_is_in_the_readme(name, command):
    assert command.help and ("Example" in command.help or "Exempel:" in command.help), (
        f"{name}: add an Example to its docstring"
    )
    readme = (REPO / "README.md").read_text("utf-8")
    assert f"`{name}" in readme, f"{name} is not in README.md"


def test_build_py_is_the_entry_point():
    result = subprocess.run(
        [sys.executable, str(REPO / "build.py"), "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0 and "build" in result.stdout


def test_usage_error_exits_2(run):
    result = run("build", "--no-such-option")
    assert result.exit_code == 2


def test_content_templates_override_the_defaults(run, tree: Path):
    (tree / "templates/email").mkdir(parents=True)
    (tree / "templates/email/issue.txt").write_text(
        "EGEN MALL {{ issue.title }}\n{{ unsubscribe_url }}\n", "utf-8"
    )
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "2022/2022-03/email.txt").read_text() == (
        "EGEN MALL Nyhetsbrev mars 2022\nhttps://nyhetsbrev.example.se/avsluta\n"
    )
    assert "Handlingsplanen" in (out / "2022/2022-03/email.html").read_text()


def test_check_writes_nothing(run, tree: Path):
    before = sorted(p.relative_to(tree) for p in tree.rglob("*"))
    result = run("check", "--root", tree)
    assert result.exit_code == 0
    assert result.stdout.startswith("Inga fel: 3 nummer, 6 texter")
    assert sorted(p.relative_to(tree) for p in tree.rglob("*")) == before
    assert not (tree / "public").exists()


def test_build_reports_what_it_wrote(run, tree: Path):
    result = run("build", "--root", tree)
    assert result.exit_code == 0
    assert result.stdout.startswith("Klart: 3 nummer, 6 texter (2 evenemang), ")
    assert (tree / "public/index.html").is_file()
