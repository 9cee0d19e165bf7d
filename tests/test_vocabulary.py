"""Words, colours and the template environment each have one home."""

from __future__ import annotations

import re
from pathlib import Path

from nyhetsbrev import vocabulary
from nyhetsbrev.build.render import environment, stylesheet

PACKAGE = Path(vocabulary.__file__).parent
HEX = re.compile(re.escape(vocabulary.ACCENT), re.IGNORECASE)


def files(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in PACKAGE.rglob(pattern))


def test_the_accent_colour_is_written_once():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in files("*.py", "*.css", "*.html", "*.mjml", "*.txt")
        if path.name != "vocabulary.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if HEX.search(line)
    ]
    assert found == []


def test_every_css_gets_the_accent_from_the_vocabulary():
    env = environment()
    for name in ("email/inline.css", "report/report.css", "web/style.css"):
        assert vocabulary.ACCENT in env.get_template(name).render(), name
    assert vocabulary.ACCENT in stylesheet()


def test_the_strategys_goals_and_the_status_labels_are_written_once():
    words = [vocabulary.GOALS[2], '"klart att skicka"', '"ready": "klart"']
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in files("*.py")
        if path.name != "vocabulary.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if any(word in line for word in words)
    ]
    assert found == []


def test_one_template_environment_factory():
    """Only render.environment builds a Jinja2 environment; report and serve use it too."""
    found = [
        f"{path.name}:{number}"
        for path in files("*.py")
        if path.name != "render.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if re.search(r"jinja2\.(?:Environment|PackageLoader|FileSystemLoader)\(|Sandboxed", line)
    ]
    assert found == []


def test_plan_and_report_judge_the_count_alike():
    from nyhetsbrev.year.plan import _count_warning
    from nyhetsbrev.year.report import PROMISE

    fewest, most = vocabulary.ISSUES_PER_YEAR
    assert PROMISE == vocabulary.ISSUES_PER_YEAR
    for count in range(0, most + 3):
        within = vocabulary.against_plan(count) == 0
        assert within == (fewest <= count <= most)
        assert (_count_warning(2022, count, 0) == "") == within
