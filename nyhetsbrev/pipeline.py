"""The stages in order: load -> check -> assemble/render -> publish."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .check import check
from .errors import ERROR, WARNING, ContentError, Problem
from .load import load
from .models import Content
from .publish import Output, publish
from .render import RenderedIssue, environment, render_archive, render_issue, stylesheet


@dataclass(frozen=True)
class Checked:
    content: Content
    warnings: list[Problem]


def load_content(root: Path, strict: bool = False) -> Checked:
    """Read and check the content tree; raise ContentError listing every problem."""
    content, problems = check(load(root))
    errors = [p for p in problems if p.severity == ERROR or (strict and p.severity == WARNING)]
    if errors or content is None:
        raise ContentError(errors if strict else [p for p in problems if p.severity == ERROR]
                           or problems)
    return Checked(content, [p for p in problems if p.severity == WARNING])


def render_all(content: Content) -> list[RenderedIssue]:
    """Render every issue of the content."""
    env = environment(_templates(content))
    return [render_issue(env, content, issue) for issue in content.issues]


def _templates(content: Content) -> Path | None:
    folder = content.site.root / "templates"
    return folder if folder.is_dir() else None


def outputs(content: Content, rendered: list[RenderedIssue], emit_mjml: bool = False
            ) -> Iterator[Output]:
    """Yield every output file as (relative path, bytes or source file)."""
    env = environment(_templates(content))
    yield "index.html", render_archive(env, content).encode()
    yield "style.css", stylesheet().encode()
    for r in rendered:
        folder = r.issue.folder
        yield f"{folder}/index.html", r.web.encode()
        yield f"{folder}/email.html", r.html.encode()
        yield f"{folder}/email.txt", r.text.encode()
        yield f"{folder}/email.eml", r.eml
        if emit_mjml:
            yield f"{folder}/email.mjml", r.mjml.encode()
    yield from _assets(content)


def _assets(content: Content) -> Iterator[Output]:
    seen: set[str] = set()
    assets = [a for item in content.items for a in (*item.body.assets, item.image_asset) if a]
    assets += [a for issue in content.issues for a in issue.intro.assets]
    assets += [a for c in content.campaigns.values() for a in c.body.assets]
    assets += [c.logo for c in content.campaigns.values() if c.logo and not isinstance(c.logo, str)]
    for asset in assets:
        if asset.target not in seen:
            seen.add(asset.target)
            yield asset.target, asset.source


def build(root: Path, out: Path, strict: bool = False, emit_mjml: bool = False
          ) -> tuple[Checked, int]:
    """Check, render and publish; return the checked content and the number of files."""
    checked = load_content(root, strict)
    rendered = render_all(checked.content)
    files = list(outputs(checked.content, rendered, emit_mjml))
    return checked, publish(out, files)


def summary(content: Content) -> dict[str, int]:
    """Return counts for the build's closing line."""
    return {"issues": len(content.issues), "items": len(content.items),
            "events": sum(1 for i in content.items if i.is_event)}


__all__ = ["build", "load_content", "render_all", "outputs", "summary", "json"]
