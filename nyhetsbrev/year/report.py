"""Content -> the year's account as a Report value, and that value as HTML, Markdown or CSV.

Pure apart from `read_delivered`, which opens the send ledger read-only. Every number in
every format comes from one `Report`, so the three forms cannot disagree.

How the numbers are counted (also stated in the HTML and Markdown):
- Only issues dated in the year and not drafts (`status: draft`) count as published.
- An item tagged with two campaigns, goals or target groups counts once under each, so a
  table's rows may add up to more than the number of items; "Ingen kampanj" and the like
  count the untagged items.
- Target groups are counted by their exact text, as the coordinators wrote them.
- A campaign's longest gap is the largest number of consecutive published issues without
  it, counting the issues before its first and after its last appearance; a campaign that
  no issue carried has a gap of every issue of the year.
- Delivered messages are the ledger's sends in state 'sent' for each issue (`ledger.delivered`);
  test sends are kept apart by the ledger and never count. An issue the ledger has no list
  send of has no figure ("uppgift saknas"), never 0, and totals say how many issues they cover.
"""

from __future__ import annotations

import datetime as dt
import html
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nyhetsbrev import database
from nyhetsbrev.content.models import Content, Issue, Item, swedish_order
from nyhetsbrev.csvout import to_csv
from nyhetsbrev.delivery.deliverability import IssueFeedback
from nyhetsbrev.errors import NyhetsbrevError
from nyhetsbrev.numerals import capitalized, in_words
from nyhetsbrev.vocabulary import (
    ACCENT,
    GOALS,
    ISSUES_PER_YEAR,
    STATUSES,
    TYPE_SINGULAR,
    TYPES,
    against_plan,
)
from nyhetsbrev.vocabulary import UNTAGGED_COLOR as GREY

PROMISE = ISSUES_PER_YEAR  # the action plan: a newsletter 6-12 times a year (vocabulary)
MISSING = "uppgift saknas"  # a figure the ledger cannot give
NO_CAMPAIGN = "Ingen kampanj"
NO_GOAL = "Inget delmål angivet"
NO_GROUP = "Ingen målgrupp angiven"
FORMATS = ("html", "md", "csv")
NBSP = "\u00a0"


class ReportError(NyhetsbrevError):
    """The report cannot be made: no issues that year, or an unreadable ledger."""


@dataclass(frozen=True)
class Count:
    """One row of a tally: what is counted, and how many items."""

    label: str
    count: int
    key: str = ""  # campaign slug or goal number; "" for the untagged row
    color: str = ACCENT


@dataclass(frozen=True)
class IssueRow:
    id: str
    date: dt.date
    title: str
    status: str
    news: int
    events: int
    delivered: int | None  # None when the ledger has no list send of the issue (or no ledger)

    @property
    def items(self) -> int:
        return self.news + self.events


@dataclass(frozen=True)
class EventRow:
    start: dt.datetime
    title: str
    location: str
    malgrupp: tuple[str, ...]
    delmal: tuple[int, ...]
    issue_id: str


@dataclass(frozen=True)
class Presence:
    """Which of the year's issues carried a campaign, and its longest gap between them."""

    slug: str
    name: str
    color: str
    carried: tuple[bool, ...]  # one flag per published issue, in date order
    longest_gap: int

    @property
    def issues(self) -> int:
        return sum(self.carried)


@dataclass(frozen=True)
class ItemRow:
    issue_id: str
    date: dt.date
    title: str
    type: str
    campaigns: tuple[str, ...]  # campaign names
    delmal: tuple[int, ...]
    malgrupp: tuple[str, ...]
    start: dt.datetime | None


@dataclass(frozen=True)
class Report:
    """Every number of the year's account."""

    year: int
    organisation: str
    newsletter: str
    issues: tuple[IssueRow, ...]  # published, by date
    drafts: tuple[IssueRow, ...]  # not counted
    per_campaign: tuple[Count, ...]
    per_goal: tuple[Count, ...]
    per_group: tuple[Count, ...]
    per_type: tuple[Count, ...]
    events: tuple[EventRow, ...]
    presence: tuple[Presence, ...]
    items: tuple[ItemRow, ...]
    ledger: bool  # whether the send ledger was found
    # per issue with a list send: delivered, bounced, complained, unsubscribed (deliverability)
    feedback: tuple[tuple[IssueRow, IssueFeedback], ...] = ()

    @property
    def delivered(self) -> int:
        """Return the messages delivered for the issues that have a figure (see `covered`)."""
        return sum(row.delivered or 0 for row in self.issues)

    @property
    def covered(self) -> int:
        """Return how many of the published issues have a delivered figure."""
        return sum(1 for row in self.issues if row.delivered is not None)


# --- the numbers -------------------------------------------------------------------------


def build_report(
    content: Content,
    year: int,
    delivered: dict[str, int] | None = None,
    feedback: dict[str, IssueFeedback] | None = None,
) -> Report:
    """Return the year's account; raise ReportError if the content has no issue that year."""
    in_year = [issue for issue in content.issues if issue.year == year]
    if not in_year:
        raise ReportError(_no_issues(content, year))
    published = list(content.counted(year))
    items = [item for issue in published for item in issue.items]
    names = {slug: c.name for slug, c in content.campaigns.items()}
    return Report(
        year=year,
        organisation=content.site.organisation,
        newsletter=content.site.title,
        issues=tuple(_issue_row(i, delivered) for i in published),
        drafts=tuple(_issue_row(i, delivered) for i in in_year if i.is_draft),
        per_campaign=_per_campaign(content, items),
        per_goal=_per_goal(items),
        per_group=_per_group(items),
        per_type=tuple(Count(TYPES[t], sum(1 for i in items if i.type == t), t) for t in TYPES),
        events=tuple(
            sorted((_event_row(i) for i in items if i.is_event), key=lambda e: (e.start, e.title))
        ),
        presence=tuple(
            _presence(content, slug, published)
            for slug in sorted(
                content.campaigns, key=lambda s: swedish_order(content.campaigns[s].name)
            )
        ),
        items=tuple(_item_row(i, names) for i in items),
        ledger=delivered is not None,
        feedback=tuple(
            (_issue_row(i, delivered), found)
            for i in published
            if (found := (feedback or {}).get(i.id)) is not None
        ),
    )


def _no_issues(content: Content, year: int) -> str:
    years = sorted({i.year for i in content.issues})
    have = (
        f"Det finns nummer för {', '.join(str(y) for y in years)}."
        if years
        else "Det finns inga nummer alls ännu."
    )
    return (
        f"Inga nummer för {year}: newsletters/{year}/ saknas eller har inga nummer. {have} "
        f"Ange ett annat år, t.ex. `nyhetsbrev report {years[-1] if years else year}`."
    )


def _issue_row(issue: Issue, delivered: dict[str, int] | None) -> IssueRow:
    news = len(issue.news)
    return IssueRow(
        issue.id,
        issue.date,
        issue.title,
        issue.status,
        news,
        len(issue.items) - news,
        None if delivered is None else delivered.get(issue.id),
    )


def _per_campaign(content: Content, items: Sequence[Item]) -> tuple[Count, ...]:
    tally = Counter(slug for item in items for slug in item.campaigns)
    rows = [
        Count(c.name, tally[slug], slug, c.color)
        for slug, c in sorted(content.campaigns.items(), key=lambda kv: swedish_order(kv[1].name))
    ]
    return (*rows, Count(NO_CAMPAIGN, sum(1 for i in items if not i.campaigns), color=GREY))


def _per_goal(items: Sequence[Item]) -> tuple[Count, ...]:
    tally = Counter(goal for item in items for goal in item.delmal)
    rows = [Count(f"Mål {n} {name}", tally[n], str(n)) for n, name in GOALS.items()]
    return (*rows, Count(NO_GOAL, sum(1 for i in items if not i.delmal), color=GREY))


def _per_group(items: Sequence[Item]) -> tuple[Count, ...]:
    tally = Counter(group for item in items for group in item.malgrupp)
    rows = [
        Count(g, n, g)
        for g, n in sorted(tally.items(), key=lambda kv: (-kv[1], swedish_order(kv[0])))
    ]
    untagged = sum(1 for i in items if not i.malgrupp)
    return (*rows, Count(NO_GROUP, untagged, color=GREY)) if untagged else tuple(rows)


def _event_row(item: Item) -> EventRow:
    start = item.start or dt.datetime.combine(item.date, dt.time())
    return EventRow(start, item.title, item.location, item.malgrupp, item.delmal, item.issue_id)


def _presence(content: Content, slug: str, issues: Sequence[Issue]) -> Presence:
    carried = tuple(any(slug in item.campaigns for item in issue.items) for issue in issues)
    campaign = content.campaigns[slug]
    return Presence(slug, campaign.name, campaign.color, carried, longest_gap(carried))


def longest_gap(carried: Iterable[bool]) -> int:
    """Return the most consecutive issues without the campaign, the ends of the year included."""
    run = best = 0
    for present in carried:
        run = 0 if present else run + 1
        best = max(best, run)
    return best


def _item_row(item: Item, names: dict[str, str]) -> ItemRow:
    return ItemRow(
        item.issue_id,
        item.date,
        item.title,
        item.type,
        tuple(names.get(s, s) for s in item.campaigns),
        item.delmal,
        item.malgrupp,
        item.start,
    )


# --- the ledger --------------------------------------------------------------------------


def read_delivered(path: Path | None) -> dict[str, int] | None:
    """Return {issue_id: messages the server accepted} from the send ledger; None if absent."""
    if path is None or not path.is_file():
        return None
    from nyhetsbrev.delivery.ledger import delivered

    try:
        return delivered(path)
    except sqlite3.Error as e:
        raise ReportError(
            f"{path}: utskicksregistret kan inte läsas ({database.reason(e)}); kontrollera att "
            "filen är det register som `nyhetsbrev send` skriver"
        ) from e


# --- shared wording ----------------------------------------------------------------------


def tal(n: int) -> str:
    """Return a count the Swedish way: 1585, but 12 345 (a no-break space from five digits)."""
    return f"{n:,}".replace(",", NBSP) if abs(n) >= 10_000 else str(n)


MISSING_NOTE = (
    "Uppgift saknas för nummer som utskicksregistret inte har något utskick till en lista "
    "för, till exempel nummer som skickades innan registret fanns. Summan gäller bara de "
    "nummer som har en uppgift."
)


def figure(n: int | None) -> str:
    """Return a delivered count, or "uppgift saknas" when there is none (never 0)."""
    return MISSING if n is None else tal(n)


def delivered_total(report: Report) -> str:
    """Return the delivered total and how many issues it covers: '5 för 3 av 7 nummer'."""
    if not report.covered:
        return MISSING
    return f"{tal(report.delivered)} för {report.covered} av {len(report.issues)} nummer"


def short_date(day: dt.date) -> str:
    """Return '16/3', the way Swedish writes a day and month in a narrow column."""
    return f"{day.day}/{day.month}"


def when(start: dt.datetime) -> str:
    """Return an event's start as '2022-10-20 kl. 09.00'."""
    return f"{start:%Y-%m-%d} kl. {start:%H.%M}"


def verdict(report: Report) -> str:
    """Return the sentence on the number of issues against the plan's 6-12."""
    n, (low, high) = len(report.issues), PROMISE
    if against_plan(n) < 0:
        judged = f"färre än planens {low}–{high}"
    elif against_plan(n) > 0:
        judged = f"fler än planens {low}–{high}"
    else:
        judged = f"inom planens {low}–{high}"
    unsent = sum(1 for row in report.issues if row.status != "sent")
    if unsent == 1:
        note = " Ett av dem har status klart men är ännu inte markerat som skickat."
    elif unsent:
        many = f"{capitalized(unsent)} av dem har" if unsent <= 12 else f"Av dem har {unsent}"
        note = f" {many} status klart men är ännu inte markerade som skickade."
    else:
        note = ""
    count = "inget" if n == 0 else in_words(n)
    return f"Under {report.year} gavs {count} nummer ut, {judged}.{note}"


def goal_list(goals: Iterable[int]) -> str:
    return ", ".join(str(g) for g in goals)


def headline(report: Report) -> list[tuple[str, str]]:
    """Return the key figures as (label, value) pairs, in the order they are shown."""
    items = len(report.items)
    events = next(c.count for c in report.per_type if c.key == "event")
    rows = [
        (f"Utgivna nummer (planen: {PROMISE[0]}–{PROMISE[1]})", str(len(report.issues))),
        ("Texter", str(items)),
        ("Varav evenemang", str(events)),
    ]
    if report.ledger:
        rows.append(("Levererade meddelanden", delivered_total(report)))
    return rows


METHOD = (
    "Räknat ur nyhetsbrevets eget innehåll. Bara nummer daterade under året som inte är "
    "utkast räknas. En text med flera kampanjer, delmål eller målgrupper räknas under var "
    "och en, så raderna i en tabell kan summera till fler än antalet texter. Målgrupperna "
    "räknas som de är skrivna. En kampanjs längsta uppehåll är det största antalet nummer i "
    "följd utan kampanjen, nummer före dess första och efter dess sista förekomst inräknade."
)


FEEDBACK_HEAD = ["Nummer", "Skickade", "Levererade", "Studsade", "Klagomål", "Avregistrerade"]
FEEDBACK_NOTE = (
    "Levererade är de som servern tog emot, minus de adresser som studsade permanent. "
    "En avregistrering räknas på det senaste nummer som adressen fått; klagomål (brevet "
    "anmält som skräppost) räknas för sig."
)


# --- Markdown ----------------------------------------------------------------------------


def render_markdown(report: Report) -> str:
    """Return the account as Markdown, for pasting into the annual report."""
    out = [
        f"# Nyhetsbrevet {report.year}: vad som förmedlades",
        "",
        f"{report.organisation} · {report.newsletter}",
        "",
        *(f"- {label}: {value}" for label, value in headline(report)),
        "",
        "## Utgivna nummer",
        "",
        verdict(report),
        "",
    ]
    head = ["Datum", "Nummer", "Status", "Nyheter", "Evenemang", "Texter"]
    rows = [
        [
            f"{r.date:%Y-%m-%d}",
            r.title,
            STATUSES.get(r.status, r.status),
            str(r.news),
            str(r.events),
            str(r.items),
        ]
        + ([figure(r.delivered)] if report.ledger else [])
        for r in report.issues
    ]
    total = [
        "Totalt",
        "",
        "",
        str(sum(r.news for r in report.issues)),
        str(sum(r.events for r in report.issues)),
        str(len(report.items)),
    ]
    if report.ledger:
        head.append("Levererade")
        total.append(delivered_total(report))
    out += _md_table(head, [*rows, total])
    if report.drafts:
        out += [
            "",
            "Utkast som inte räknas: "
            + ", ".join(f"{d.title} ({d.date:%Y-%m-%d})" for d in report.drafts)
            + ".",
        ]
    if not report.ledger:
        out += ["", "Inget utskicksregister hittades, så levererade meddelanden redovisas inte."]
    elif report.covered < len(report.issues):
        out += ["", MISSING_NOTE]
    if report.feedback:
        out += ["", "## Efter utskicket", "", FEEDBACK_NOTE, ""]
        out += _md_table(
            FEEDBACK_HEAD,
            [
                [row.title, str(f.sent), str(f.delivered), str(f.bounced)]
                + [str(f.complained), str(f.unsubscribed)]
                for row, f in report.feedback
            ],
        )
    out += _md_counts("Texter per kampanj", "Kampanj", report.per_campaign)
    out += _md_goals(report.per_goal)
    out += _md_counts("Texter per målgrupp", "Målgrupp", report.per_group)
    out += _md_counts("Nyheter och evenemang", "Typ", report.per_type)
    out += ["", "## Evenemang", ""]
    out += (
        _md_table(
            ["Datum", "Evenemang", "Målgrupper", "Delmål", "Nummer"],
            [
                [when(e.start), e.title, "; ".join(e.malgrupp), goal_list(e.delmal), e.issue_id]
                for e in report.events
            ],
        )
        if report.events
        else ["Inga evenemang under året."]
    )
    out += ["", "## Kampanjernas närvaro", ""]
    out += ["Kolumnerna är numren, med utskicksdatum (dag/månad).", ""]
    out += _md_table(
        ["Kampanj", *(short_date(r.date) for r in report.issues), "Nummer", "Längsta uppehåll"],
        [
            [p.name, *("x" if c else "–" for c in p.carried), str(p.issues), str(p.longest_gap)]
            for p in report.presence
        ],
    )
    out += ["", "## Så har vi räknat", "", METHOD, ""]
    return "\n".join(out)


def _md_counts(title: str, what: str, counts: Sequence[Count]) -> list[str]:
    return [
        "",
        f"## {title}",
        "",
        *_md_table([what, "Texter"], [[c.label, str(c.count)] for c in counts]),
    ]


def _md_goals(counts: Sequence[Count]) -> list[str]:
    rows = [
        [f"Mål {c.key}", GOALS[int(c.key)], str(c.count)] if c.key else [c.label, "", str(c.count)]
        for c in counts
    ]
    return ["", "## Texter per delmål", "", *_md_table(["Delmål", "Namn", "Texter"], rows)]


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    numeric = [
        all(r[i].replace(NBSP, "").isdigit() for r in rows if r[i]) and any(r[i] for r in rows)
        for i in range(len(head))
    ]
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    return [line(head), rule, *(line(r) for r in rows)]


# --- CSV ---------------------------------------------------------------------------------

CSV_HEAD = (
    "nummer",
    "datum",
    "titel",
    "typ",
    "kampanjer",
    "delmål",
    "målgrupper",
    "start",
    "levererade för numret",
)


def render_csv(report: Report) -> bytes:
    """Return one row per item in the tool's CSV convention (`csvout`), for Swedish Excel.

    Several campaigns or target groups in one cell are separated by " | ", goals by ", ".
    The last column is the item's issue's delivered messages, or "uppgift saknas".
    """
    delivered = {row.id: row.delivered for row in report.issues}
    return to_csv(
        CSV_HEAD,
        (
            [
                row.issue_id,
                f"{row.date:%Y-%m-%d}",
                row.title,
                TYPE_SINGULAR.get(row.type, row.type),
                " | ".join(row.campaigns),
                goal_list(row.delmal),
                " | ".join(row.malgrupp),
                f"{row.start:%Y-%m-%d %H:%M}" if row.start else "",
                figure(delivered.get(row.issue_id)),
            ]
            for row in report.items
        ),
    )


# --- SVG charts --------------------------------------------------------------------------

CHART_WIDTH = 600
FONT = 15
LINE = 19  # height of one line of label text
BAR = 18


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int | None, str]]) -> str:
    """Return an SVG of horizontal bars: each row's label above its bar, the number after it.

    A row without a number (None) gets no bar, and "uppgift saknas" in its place.
    """
    top = _max(v for _, v, _ in rows if v is not None)
    room = CHART_WIDTH - 70  # the longest bar leaves room for its number
    parts, y = [], 4
    for label, value, color in rows:
        lines = _wrap(label, 70)
        for line in lines:
            y += LINE
            parts.append(f'<text x="0" y="{y - 5}" class="label">{_x(line)}</text>')
        if value is None:
            parts.append(f'<text x="0" y="{y + BAR - 5}" class="value">{MISSING}</text>')
            y += BAR + 10
            continue
        width = round(room * value / top) if value else 0
        parts.append(
            f'<rect x="0" y="{y}" width="{max(width, 2)}" height="{BAR}" fill="{_x(color)}"/>'
        )
        parts.append(
            f'<text x="{max(width, 2) + 8}" y="{y + BAR - 5}" class="value">{tal(value)}</text>'
        )
        y += BAR + 10
    return _svg(chart_id, title, y, parts)


def promise_chart(chart_id: str, report: Report) -> str:
    """Return an SVG with the number of issues as a bar over the plan's band of 6-12."""
    n, (low, high) = len(report.issues), PROMISE
    top = max(high + 1, n + 1)
    scale = (CHART_WIDTH - 20) / top
    band_x, band_w = 10 + low * scale, (high - low) * scale
    parts = [
        f'<rect x="{band_x:.1f}" y="4" width="{band_w:.1f}" height="64" class="band"/>',
        f'<text x="{band_x + 6:.1f}" y="22" class="label">Planen: {low}–{high} nummer</text>',
        f'<rect x="10" y="32" width="{max(n * scale, 2):.1f}" height="{BAR + 4}" fill="{ACCENT}"/>',
        f'<text x="{10 + max(n * scale, 2) + 8:.1f}" y="{32 + BAR - 2}" class="value">{n}</text>',
        f'<line x1="10" y1="76" x2="{10 + top * scale:.1f}" y2="76" class="axis"/>',
    ]
    for tick in range(top + 1):
        x = 10 + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="76" x2="{x:.1f}" y2="81" class="axis"/>')
        parts.append(f'<text x="{x:.1f}" y="98" class="tick">{tick}</text>')
    title = f"Utgivna nummer {report.year}: {n}. Planen anger {low}–{high} nummer om året."
    return _svg(chart_id, title, 106, parts)


def presence_chart(chart_id: str, report: Report) -> str:
    """Return an SVG grid: a row per campaign, a square per issue, filled where it appeared."""
    count = max(len(report.issues), 1)
    cell = min(44.0, (CHART_WIDTH - 4) / count)
    size = cell - 6
    parts = []
    for index, row in enumerate(report.issues):
        x = index * cell + cell / 2
        parts.append(f'<text x="{x:.1f}" y="16" class="tick">{short_date(row.date)}</text>')
    y: float = 24
    for p in report.presence:
        y += LINE
        parts.append(
            f'<text x="0" y="{y - 5}" class="label">{_x(p.name)} · {p.issues} av '
            f"{len(p.carried)} nummer, längsta uppehåll {p.longest_gap}</text>"
        )
        for index, present in enumerate(p.carried):
            x = index * cell + 3
            style = f'fill="{_x(p.color)}"' if present else 'class="empty"'
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{size:.1f}" height="{size:.1f}" rx="3" {style}/>'
            )
        y += size + 12
    names = "; ".join(
        f"{p.name}: {p.issues} av {len(p.carried)} nummer, längsta uppehåll {p.longest_gap}"
        for p in report.presence
    )
    return _svg(chart_id, f"Kampanjernas närvaro i årets nummer. {names}.", y, parts)


def _svg(chart_id: str, title: str, height: float, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{chart_id}-t" '
        f'viewBox="0 0 {CHART_WIDTH} {height:.0f}" preserveAspectRatio="xMinYMin meet" '
        f'width="{CHART_WIDTH}" '
        f'height="{height:.0f}" class="chart">'
        f'<title id="{chart_id}-t">{_x(title)}</title>' + "".join(parts) + "</svg>"
    )


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _max(values: Iterable[int]) -> int:
    return max([*values, 1])


def _x(text: str) -> str:
    return html.escape(text, quote=True)


def chart_title(what: str, counts: Sequence[Count]) -> str:
    """Return a chart's accessible name: what it shows, and its numbers."""
    return f"{what}: " + "; ".join(f"{c.label} {c.count}" for c in counts) + "."


# --- HTML --------------------------------------------------------------------------------


def render_html(report: Report) -> str:
    """Return the account as one self-contained HTML page: inline CSS, SVG charts, no script."""
    from markupsafe import Markup

    from nyhetsbrev.build.render import environment

    filters: dict[str, Callable[..., Any]] = {
        "goals": goal_list,
        "short": short_date,
        "tal": tal,
        "figure": figure,
    }
    env = environment(trusted=True, filters=filters)

    def counts_chart(chart_id: str, what: str, counts: Sequence[Count]) -> Markup:
        return Markup(
            bar_chart(
                chart_id, chart_title(what, counts), [(c.label, c.count, c.color) for c in counts]
            )
        )

    delivered = [(f"{r.date:%Y-%m-%d} {r.title}", r.delivered, ACCENT) for r in report.issues]
    delivered_title = (
        "Levererade meddelanden per nummer: "
        + "; ".join(f"{label} {figure(n)}" for label, n, _ in delivered)
        + "."
    )
    charts = {
        "promise": Markup(promise_chart("diagram-nummer", report)),
        "campaign": counts_chart("diagram-kampanj", "Texter per kampanj", report.per_campaign),
        "goal": counts_chart("diagram-delmal", "Texter per delmål", report.per_goal),
        "group": counts_chart("diagram-malgrupp", "Texter per målgrupp", report.per_group),
        "type": counts_chart("diagram-typ", "Nyheter och evenemang", report.per_type),
        "presence": Markup(presence_chart("diagram-narvaro", report)),
        "delivered": Markup(bar_chart("diagram-levererade", delivered_title, delivered)),
    }
    return env.get_template("report/report.html").render(
        r=report,
        charts=charts,
        verdict=verdict(report),
        headline=headline(report),
        delivered_total=delivered_total(report),
        feedback_note=FEEDBACK_NOTE,
        method=METHOD,
        missing_note=MISSING_NOTE,
        goals=GOALS,
        statuses=STATUSES,
    )


def render(report: Report, fmt: str) -> bytes:
    """Return the report in one of FORMATS as UTF-8 bytes."""
    if fmt == "csv":
        return render_csv(report)
    return {"html": render_html, "md": render_markdown}[fmt](report).encode("utf-8")
