"""The three issue templates share one structure: IssueView, and parts with the same names."""

from __future__ import annotations

import html
import re

import pytest
from jinja2 import nodes

from nyhetsbrev.build.pipeline import load_content
from nyhetsbrev.build.render import environment, issue_view, render_issue

from .conftest import FIXTURES

PARTS = {
    "email/_parts.mjml": {"contents", "item", "event", "campaign", "footer"},
    "email/_parts.txt": {"contents", "item", "event", "campaign", "footer"},
    "web/_parts.html": {"contents", "item", "event", "campaign"},  # its footer: the archive's
}
ISSUES = ("email/issue.mjml", "email/issue.txt", "web/issue.html")


def source(env, name: str) -> str:
    return env.loader.get_source(env, name)[0]


def test_each_medium_has_the_same_parts():
    env = environment()
    for name, expected in PARTS.items():
        macros = {m.name for m in env.parse(source(env, name)).find_all(nodes.Macro)}
        assert {m for m in macros if not m.startswith("_")} == expected, name


def test_the_issue_templates_take_items_from_the_view_only():
    """No issue template works out an item's campaigns, actions or boxes by itself."""
    env = environment()
    own = re.compile(
        r"(?<![.\w])(?:actions\(|boxes\b|color_of|names\(|campaigns\[)|issue\.(?:news|events)"
    )
    for name in (*ISSUES, *PARTS):
        code = re.sub(r"\{#.*?#\}", "", source(env, name), flags=re.DOTALL)  # not comments
        found = [line for line in code.splitlines() if own.search(line)]
        assert found == [], name


@pytest.fixture(scope="module")
def content():
    return load_content(FIXTURES / "basic").content.published()


def test_every_action_and_box_reaches_every_medium(content):
    env = environment()
    checked = 0
    for issue in content.issues:
        view = issue_view(content, issue)
        rendered = render_issue(env, content, issue)
        for entry in view.news + view.events:
            for action in entry.actions:
                for medium in (rendered.html, rendered.web):
                    assert html.escape(action.url) in medium, (entry.item.slug, action.kind)
                assert action.url in rendered.text, (entry.item.slug, action.kind)
                checked += 1
            for campaign in entry.boxes:
                for medium in (rendered.html, rendered.text, rendered.web):
                    assert campaign.name in medium
    assert checked >= 3
