"""The year at a glance: its issues, what they cover, and the gaps in the action plan's rhythm.

Pure: checked content in, rows and findings out; `render` turns them into a terminal table,
Markdown or CSV. The action plan promises 6–12 issues a year.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from .models import MONTHS, Content, Issue

FEWEST, MOST = 6, 12
STATUS = {"draft": "utkast", "ready": "klart", "sent": "skickat"}
HEADERS = ("Nummer", "Datum", "Status", "Texter", "Kampanjer", "Delmål")


@dataclass(frozen=True)
class Plan:
    year: int
    rows: tuple[tuple[str, ...], ...]
    gaps: tuple[str, ...]  # months without an issue, campaigns absent too long, delmål unused
    warning: str  # "" when the year has 6-12 issues


def plan(content: Content, year: int, gap: int) -> Plan:
    """Return the year's issues as table rows, the gaps and the 6-12 warning."""
    issues = [i for i in content.issues if i.year == year]
    rows = tuple(_row(issue) for issue in issues)
    gaps = (
        *_missing_months(issues),
        *_campaign_gaps(content, issues, gap),
        *_unused_delmal(issues),
    )
    return Plan(year, rows, gaps, _count_warning(year, len(issues)))


def _row(issue: Issue) -> tuple[str, ...]:
    campaigns = sorted({c for item in issue.items for c in item.campaigns})
    delmal = sorted({d for item in issue.items for d in item.delmal})
    return (
        issue.id,
        issue.date.isoformat(),
        STATUS.get(issue.status, issue.status),
        str(len(issue.items)),
        ", ".join(campaigns) or "–",
        ", ".join(map(str, delmal)) or "–",
    )


def _missing_months(issues: list[Issue]) -> list[str]:
    months = {i.date.month for i in issues}
    missing = [MONTHS[m - 1] for m in range(1, 13) if m not in months]
    return [f"Månader utan nummer: {', '.join(missing)}"] if missing else []


def _campaign_gaps(content: Content, issues: list[Issue], gap: int) -> list[str]:
    """Return a line for every run of more than `gap` issues in a row without a campaign."""
    lines = []
    for slug, campaign in sorted(content.campaigns.items()):
        run: list[Issue] = []
        for issue in [*issues, None]:
            if issue is not None and all(slug not in i.campaigns for i in issue.items):
                run.append(issue)
                continue
            if len(run) > gap:
                span = run[0].id if len(run) == 1 else f"{run[0].id} – {run[-1].id}"
                lines.append(
                    f'Kampanjen "{campaign.name}" saknas i {len(run)} nummer i följd ({span})'
                )
            run = []
    return lines


def _unused_delmal(issues: list[Issue]) -> list[str]:
    used = {d for issue in issues for item in issue.items for d in item.delmal}
    unused = [str(d) for d in range(1, 6) if d not in used]
    return [f"Delmål som inget nummer tar upp: {', '.join(unused)}"] if issues and unused else []


def _count_warning(year: int, count: int) -> str:
    if count < FEWEST:
        return (
            f"{year} har {count} nummer; handlingsplanen lovar {FEWEST}–{MOST} om året: "
            f"planera minst {FEWEST - count} till med `nyhetsbrev new issue {year}-MM`"
        )
    if count > MOST:
        return (
            f"{year} har {count} nummer; handlingsplanen lovar {FEWEST}–{MOST} om året: "
            f"slå ihop eller flytta {count - MOST}"
        )
    return ""


def render(p: Plan, fmt: str) -> str:
    """Return the plan as a terminal table ("table"), Markdown ("md") or CSV ("csv")."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(p.rows)
        return out.getvalue()
    if fmt == "md":
        lines = [f"# Plan för {p.year}", "", _md_row(HEADERS), _md_row(("---",) * len(HEADERS))]
        lines += [_md_row(r) for r in p.rows] or ["", f"Inga nummer för {p.year}."]
        lines += ["", "## Luckor", "", *(f"- {g}" for g in p.gaps or ("Inga luckor.",))]
        return "\n".join(lines) + "\n"
    return _table(p)


def _md_row(cells: tuple[str, ...]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _table(p: Plan) -> str:
    if not p.rows:
        lines = [f"Inga nummer för {p.year}."]
    else:
        widths = [max(len(r[i]) for r in (HEADERS, *p.rows)) for i in range(len(HEADERS))]
        numeric = {3}

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(
                c.rjust(w) if i in numeric else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        lines = [line(HEADERS), line(tuple("-" * w for w in widths)), *map(line, p.rows)]
    return "\n".join([*lines, "", *(p.gaps or ("Inga luckor.",))]) + "\n"
