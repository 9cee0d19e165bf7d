"""Warnings about the authority's pages that the law asks for: the accessibility statement
(lag 2018:1937) and the privacy notice. They come from newsletter.toml; the pages themselves
are built by `archive_pages`."""

from __future__ import annotations

import datetime as dt

from nyhetsbrev.content.load import CONFIG, key_line
from nyhetsbrev.content.models import STOCKHOLM, Site
from nyhetsbrev.errors import WARNING, Problem

MAX_AGE = dt.timedelta(days=365)  # an accessibility assessment older than this is stale


def today() -> dt.date:
    """Return today's date in Stockholm (tests replace this to stay true in later years)."""
    return dt.datetime.now(STOCKHOLM).date()


def statement_problems(site: Site, text: str | None) -> list[Problem]:
    """Return warnings about the accessibility statement and the privacy notice."""
    lines = (text or "").split("\n")

    def line_of(section: str) -> int:
        return next((n for n, raw in enumerate(lines, 1) if raw.strip() == f"[{section}]"), 1)

    problems = []
    a = site.accessibility
    if a is None:
        problems.append(
            Problem(
                CONFIG,
                1,
                "[accessibility] saknas: webbplatsen ska ha en tillgänglighetsredogörelse "
                "(lag 2018:1937). Lägg till avsnittet med status, assessed, method och feedback",
                severity=WARNING,
                rule="accessibility",
            )
        )
    elif a.assessed is not None and today() - a.assessed > MAX_AGE:
        problems.append(
            Problem(
                CONFIG,
                key_line(lines, "accessibility", "assessed") or line_of("accessibility"),
                f"[accessibility] assessed {a.assessed.isoformat()} är mer än ett år gammal: "
                "granska webbplatsens tillgänglighet igen och uppdatera datumet",
                severity=WARNING,
                rule="accessibility",
            )
        )
    if site.privacy is None:
        problems.append(
            Problem(
                CONFIG,
                1,
                "[privacy] saknas: integritetssidan saknar rättslig grund och lagringstid. "
                "Lägg till avsnittet med controller, contact, legal_basis och retention",
                severity=WARNING,
                rule="privacy",
            )
        )
    return problems
