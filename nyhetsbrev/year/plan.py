"""The year at a glance: its issues, what they cover, and the gaps in the action plan's rhythm.

Pure: checked content in, rows and findings out; `render` turns them into a terminal table,
Markdown or CSV. The action plan sets 6–12 issues a year (`ISSUES_PER_YEAR`), counted as
`report` counts them: issues dated in the year, except drafts (`Content.counted`). The table
and the gaps show drafts too, since they are the issues being planned.
"""

from __future__ import annotations

from dataclasses import dataclass

from nyhetsbrev.content.models import MONTHS, Content, Issue, swedish_order
from nyhetsbrev.csvout import to_csv
from nyhetsbrev.numerals import in_words
from nyhetsbrev.vocabulary import ISSUES_PER_YEAR, against_plan, status_label

FEWEST, MOST = ISSUES_PER_YEAR
HEADERS = ("Nummer", "Datum", "Status", "Texter", "Kampanjer", "Delmål")


@dataclass(frozen=True)
class Plan:
    year: int
    rows: tuple[tuple[str, ...], ...]
    gaps: tuple[str, ...]  # months without an issue, campaigns absent too long, delmål unused
    warning: str  # "" when the year has 6-12 issues that count


def plan(content: Content, year: int, gap: int) -> Plan:
    """Return the year's issues as table rows, the gaps and the 6-12 warning."""
    issues = [i for i in content.issues if i.year == year]
    names = {slug: c.name for slug, c in content.campaigns.items()}
    rows = tuple(_row(issue, names) for issue in issues)
    gaps = (
        *_missing_months(issues),
        *_campaign_gaps(content, issues, gap),
        *_unused_delmal(issues),
    )
    counted = len(content.counted(year))
    drafts = sum(1 for i in issues if i.is_draft)
    return Plan(year, rows, gaps, _count_warning(year, counted, drafts))


def _row(issue: Issue, names: dict[str, str]) -> tuple[str, ...]:
    campaigns = sorted(
        {_one_line(names.get(c, c)) for item in issue.items for c in item.campaigns},
        key=swedish_order,
    )
    delmal = sorted({d for item in issue.items for d in item.delmal})
    return (
        issue.id,
        issue.date.isoformat(),
        status_label(issue.status),
        str(len(issue.items)),
        ", ".join(campaigns) or "–",
        ", ".join(map(str, delmal)) or "–",
    )


def _one_line(text: str) -> str:
    """Return text on one line, so a cell never breaks a table's row."""
    return " ".join(text.split())


def _missing_months(issues: list[Issue]) -> list[str]:
    months = {i.date.month for i in issues}
    missing = [MONTHS[m - 1] for m in range(1, 13) if m not in months]
    return [f"Månader utan nummer: {', '.join(missing)}"] if missing else []


def _campaign_gaps(content: Content, issues: list[Issue], gap: int) -> list[str]:
    """Return a line for every run of more than `gap` issues in a row without a campaign."""
    lines = []
    for slug, campaign in sorted(content.campaigns.items(), key=lambda c: swedish_order(c[1].name)):
        run: list[Issue] = []
        for issue in [*issues, None]:
            if issue is not None and all(slug not in i.campaigns for i in issue.items):
                run.append(issue)
                continue
            if len(run) > gap:
                where = (
                    f"ett nummer ({run[0].id})"
                    if len(run) == 1
                    else f"{in_words(len(run))} nummer i följd ({run[0].id} – {run[-1].id})"
                )
                lines.append(f'Kampanjen "{_one_line(campaign.name)}" saknas i {where}')
            run = []
    return lines


def _unused_delmal(issues: list[Issue]) -> list[str]:
    used = {d for issue in issues for item in issue.items for d in item.delmal}
    unused = [str(d) for d in range(1, 6) if d not in used]
    return [f"Delmål som inget nummer tar upp: {', '.join(unused)}"] if issues and unused else []


def _count_warning(year: int, count: int, drafts: int) -> str:
    """Return the warning when the issues that count are outside 6-12 ("" when inside)."""
    if against_plan(count) == 0:
        return ""
    lines = [
        f"Under {year} finns {'inget' if count == 0 else in_words(count)} nummer som räknas; "
        f"handlingsplanen anger {FEWEST}–{MOST} om året."
    ]
    if against_plan(count) > 0:
        lines.append(f"Slå ihop eller flytta {in_words(count - MOST)}.")
        return " ".join(lines)
    if drafts:
        lines.append(
            "Årets utkast räknas inte förrän det har status ready."
            if drafts == 1
            else f"Årets {in_words(drafts)} utkast räknas inte förrän de har status ready."
        )
    if count + drafts < FEWEST:
        lines.append(
            f"Planera minst {in_words(FEWEST - count - drafts)} till med "
            f"`nyhetsbrev new issue {year}-MM`."
        )
    return " ".join(lines)


def render_csv(p: Plan) -> bytes:
    """Return the table (without the gaps) in the tool's one CSV convention."""
    return to_csv(HEADERS, p.rows)


def render(p: Plan, fmt: str) -> str:
    """Return the plan as a terminal table ("table") or Markdown ("md"); CSV: render_csv."""
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
