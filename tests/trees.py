"""Content trees for unit tests in one call, as sqlite-utils' tests get a `fresh_db`.

`fresh(tmp_path)` (or the `fresh` fixture) writes a small valid content tree: a config, one
issue with one news item, nothing else. Keyword overrides change what a test is about:

    tree = fresh(tmp_path, config={"check": {"max_words": 10}})
    tree.item("lang", body="ord " * 11)
    content = tree.content()          # load + check, asserting there is no error
    tree.problems()                   # the problems `check` reports, errors and warnings

The tree is read with the real reader and checker (`load`, `check`), so a unit test sees
exactly the `Content` a build would, without the CLI, the renderer or a whole build.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nyhetsbrev.build.lint import body_findings, documents, lint_campaign, lint_item
from nyhetsbrev.content.check import check
from nyhetsbrev.content.load import Document, Tree, load, parse_document
from nyhetsbrev.content.models import Content
from nyhetsbrev.errors import ERROR, Problem

# A newsletter.toml that checks without a warning: the required keys, the statement, privacy.
CONFIG: dict[str, Any] = {
    "title": "Testbrevet",
    "organisation": "Länsstyrelsen i Testlän",
    "base_url": "https://nyhetsbrev.example.se",
    "language": "sv",
    "sender": {
        "name": "Länsstyrelsen i Testlän",
        "address": "nyhetsbrev@example.se",
        "reply_to": "svar@example.se",
        "postal": "Box 1, 111 11 Teststad",
        "reason": "Du får brevet eftersom du arbetar mot våld i nära relationer i länet.",
    },
    "unsubscribe": {"url": "https://nyhetsbrev.example.se/avsluta", "mailto": "a@example.se"},
    "footer": {"lines": ["Kvinnofridslinjen 020-50 50 50"]},
    "accessibility": {
        "status": "delvis förenlig",
        "assessed": dt.date(2026, 10, 1),
        "method": "Automatiska tester med axe-core och granskning med tangentbord.",
        "feedback": "mailto:svar@example.se",
    },
    "privacy": {
        "controller": "Länsstyrelsen i Testlän",
        "contact": "dataskydd@example.se",
        "legal_basis": "Allmänt intresse (artikel 6.1 e i dataskyddsförordningen).",
        "retention": "Tills du avslutar prenumerationen.",
    },
}
ISSUE = "2022-03"
ITEM_ID = "6f1c0c2e-8a5e-4b43-9d38-"  # + twelve digits, one number per item


def toml_text(data: dict[str, Any]) -> str:
    """Return data as TOML: top-level values first, then one [table] per dict (one level)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | dt.date):
            return str(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for name, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    text = "\n".join(lines) + "\n"
    assert tomllib.loads(text) == data, "toml_text cannot write this value"
    return text


def markdown(meta: dict[str, Any], body: str) -> str:
    """Return a Markdown file: YAML front matter (keys in the given order) and the body."""
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n{body}\n"


def document(rel: str, meta: dict[str, Any], body: str = "Text.") -> Document:
    """Return a parsed Document, as the reader makes it, without a file."""
    problems: list[Problem] = []
    doc = parse_document(rel, markdown(meta, body), problems)
    assert doc is not None and not problems, problems
    return doc


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return base with overrides; a dict value merges one level deep, None removes a key."""
    out = dict(base)
    for key, v in overrides.items():
        if v is None:
            out.pop(key, None)
        elif isinstance(v, dict) and isinstance(out.get(key), dict):
            out[key] = {k: x for k, x in {**out[key], **v}.items() if x is not None}
        else:
            out[key] = v
    return out


@dataclass
class Fresh:
    """A content tree under root that tests add to, then load and check."""

    root: Path
    issues: list[str] = field(default_factory=list)

    def config(self, **overrides: Any) -> Path:
        """(Re)write newsletter.toml: CONFIG with overrides (tables merge, None removes)."""
        path = self.root / "newsletter.toml"
        path.write_text(toml_text(merged(CONFIG, overrides)), "utf-8")
        return path

    def folder(self, issue: str = ISSUE) -> Path:
        return self.root / "newsletters" / issue[:4] / issue

    def issue(self, issue: str = ISSUE, body: str = "Välkommen.", **meta: Any) -> Path:
        """Write issue.md of issue (ÅÅÅÅ-MM): dated the 15th, ready, unless meta says else."""
        base = {
            "date": dt.date(int(issue[:4]), int(issue[5:7]), 15),
            "status": "ready",
            "preheader": "Nyheter, kampanjer och evenemang i länet den här månaden.",
        }
        path = self.folder(issue) / "issue.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(merged(base, meta), body), "utf-8")
        if issue not in self.issues:
            self.issues.append(issue)
        return path

    def item(
        self, slug: str = "nyhet", body: str = "Text.", issue: str = ISSUE, **meta: Any
    ) -> Path:
        """Write a news item (or an event, with type="event") into issue, making the issue."""
        if issue not in self.issues:
            self.issue(issue)
        base = {
            "title": slug.capitalize(),
            "date": dt.date(int(issue[:4]), int(issue[5:7]), 10),
            "id": f"{ITEM_ID}{len(self.all_items()):012d}",
        }
        path = self.folder(issue) / f"{slug}.md"
        path.write_text(markdown(merged(base, meta), body), "utf-8")
        return path

    def event(self, slug: str = "evenemang", body: str = "Text.", **meta: Any) -> Path:
        """Write an event: a start on the item's day at 09:00, two hours long."""
        issue = meta.pop("issue", ISSUE)
        day = f"{issue}-20"
        base = {
            "type": "event",
            "start": f"{day}T09:00",
            "end": f"{day}T11:00",
            "location": "Teams",
        }
        return self.item(slug, body, issue, **merged(base, meta))

    def campaign(self, slug: str = "kampanj", body: str = "Om kampanjen.", **meta: Any) -> Path:
        base = {
            "name": slug.capitalize(),
            "color": "#8a1538",
            "url": f"https://www.example.se/{slug}",
        }
        path = self.root / "campaigns" / f"{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown(merged(base, meta), body), "utf-8")
        return path

    def all_items(self) -> list[Path]:
        return [p for p in self.root.glob("newsletters/*/*/*.md") if p.name != "issue.md"]

    def tree(self) -> Tree:
        """Return the tree as the reader reads it."""
        return load(self.root)

    def checked(self) -> tuple[Content | None, list[Problem]]:
        return check(self.tree())

    def problems(self) -> list[str]:
        """Return every problem `check` reports, as the CLI prints them."""
        return [str(p) for p in self.checked()[1]]

    def lint_lines(self) -> list[str]:
        """Return the lint findings that need no rendering (campaigns, intros, items), as the
        CLI prints them; the checked content must have no error."""
        tree = self.tree()
        content, problems = check(tree)
        assert content is not None, [str(p) for p in problems]
        docs = documents(tree)
        found = [p for c in content.campaigns.values() for p in lint_campaign(c, docs)]
        for issue in content.issues:
            found += body_findings(docs[issue.path], base=1)
            for item in issue.items:
                found += lint_item(item, issue, docs.get(item.path), content.site.max_words)
        return [str(p) for p in sorted(found)]

    def content(self) -> Content:
        """Return the checked content, asserting that it has no error."""
        content, problems = self.checked()
        assert content is not None, [str(p) for p in problems if p.severity == ERROR]
        return content


def fresh(root: Path, items: int = 1, **config: Any) -> Fresh:
    """Write a valid tree under root: the config (with overrides) and one issue with items."""
    root.mkdir(parents=True, exist_ok=True)
    tree = Fresh(root)
    tree.config(**config)
    tree.issue()
    for n in range(items):
        tree.item("nyhet" if n == 0 else f"nyhet-{n + 1}")
    return tree
