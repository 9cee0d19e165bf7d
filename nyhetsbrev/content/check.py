"""Raw documents -> checked Content, or the list of every problem found.

Pure: it takes what `load` read and returns values. The fields and their kinds, required
flags, defaults and allowed values are declared in `schema`; each rule gives one
`path:line: message`, in Swedish, saying what to do.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nyhetsbrev import schema, urls
from nyhetsbrev.content import campaign_names, scaffold
from nyhetsbrev.content.config import parse_config
from nyhetsbrev.content.load import Document, Each, RawIssue, Tree
from nyhetsbrev.content.markup import (
    Outline,
    Place,
    keep_outlines,
    outlines,
    render_markdown,
    resolve_url,
)
from nyhetsbrev.content.models import (
    MONTHS,
    STOCKHOLM,
    Campaign,
    Content,
    Issue,
    Item,
    Markup,
    Site,
    issue_title,
)
from nyhetsbrev.content.statement import statement_problems
from nyhetsbrev.delivery.records import verify_packages
from nyhetsbrev.errors import ERROR, ONE_LINE, WARNING, Problem, did_you_mean, shown
from nyhetsbrev.schema import Field, Kind, one_of

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")
COLOR = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


CheckIssue = Callable[[RawIssue, Site, dict[str, str], list[Problem]], Issue | None]


def check(
    tree: Tree, around: Callable[[CheckIssue], CheckIssue] | None = None, each: Each | None = None
) -> tuple[Content | None, list[Problem]]:
    """Return the checked content (None if any error) and every problem, errors and warnings.

    around, if given, wraps the check of each issue (the build's memo of them); each, if
    given, checks the issues (on several cores), giving the same content and problems.
    """
    check_issue = _issue if around is None else around(_issue)
    problems = list(tree.problems)
    site, config_problems = parse_config(tree.config, tree.root)
    problems += config_problems
    if site is None:
        return None, sorted(problems)
    problems += statement_problems(site, tree.config) + verify_packages(tree.root)
    campaigns = {}
    for doc in tree.campaigns:
        campaign = _campaign(doc, tree, site, problems)
        if campaign:
            campaigns[campaign.slug] = campaign
    names = {
        doc.path.rsplit("/", 1)[-1][:-3]: name.strip() if isinstance(name, str) else ""
        for doc in tree.campaigns
        for name in [doc.meta.get("name")]
    }
    if each is None:
        checked = [check_issue(raw, site, names, problems) for raw in tree.issues]
    else:

        def check_one(n: int) -> tuple[Issue | None, list[Problem], dict[str, Outline]]:
            raw = tree.issues[n]
            # What _issue looks back at: the problems load found in this issue.md.
            issue_md = f"newsletters/{raw.year}/{raw.id}/issue.md"
            found = [p for p in tree.problems if p.path == issue_md]
            loaded = len(found)
            issue = check_issue(raw, site, names, found)
            bodies = [d.body for d in (raw.doc, *raw.items) if d is not None]
            return issue, found[loaded:], outlines(bodies)

        checked = []
        for issue, found, parsed in each(check_one, len(tree.issues)):
            checked.append(issue)
            problems += found
            keep_outlines(parsed)  # lint reads them, and need not parse the bodies again
    issues = [issue for issue in checked if issue is not None]
    _unique_ids(issues, problems)
    _unique_issue_ids(tree.issues, problems)
    failed = any(p.severity == ERROR for p in problems)
    if failed:
        return None, sorted(problems)
    issues.sort(key=lambda i: (i.date, i.id))
    return Content(site, campaigns, tuple(issues)), sorted(problems)


class _Fields:
    """Typed reads of one document's front matter, recording a problem per bad value.

    fields: the document's declared fields (schema.ITEM, ISSUE or CAMPAIGN); each read
    takes the field's kind, required flag, default and choices from there.
    """

    def __init__(self, doc: Document, problems: list[Problem], fields: tuple[Field, ...]):
        self.doc = doc
        self.problems = problems
        self.fields = {f.key: f for f in fields}
        self.reported: set[str] = set()  # one-line fields already reported

    def declared(self, key: str, *kinds: Kind) -> Field:
        """Return the declaration of key; reading it as another kind is a bug."""
        declared = self.fields[key]
        if declared.kind not in kinds:
            raise TypeError(f"{key} is declared {declared.kind}, read as {kinds}")
        return declared

    def fail(self, key: str, message: str, index: int | None = None, **kw: Any) -> None:
        self.problems.append(Problem(self.doc.path, self.doc.line(key, index), message, **kw))

    def has(self, key: str) -> bool:
        value = self.doc.meta.get(key)
        # Blank text counts as absent, as text() reads it.
        return value is not None and not (isinstance(value, str) and not value.strip())

    def text(self, key: str) -> str:
        """Return a text field ("" when absent), recording a problem if it is bad."""
        return self.raw_text(self.declared(key, "text", "color"))

    def raw_text(self, declared: Field) -> str:
        key = declared.key
        value = self.doc.meta.get(key)
        if value in (None, ""):
            if declared.required:
                self.fail(key, f"{key} saknas{declared.hint}")
            return ""
        if not isinstance(value, str):
            self.fail(key, f"{key} ska vara en text, inte en lista eller tabell")
            return ""
        return self.one_line(key, value.strip())

    def one_line(self, key: str, value: str, index: int | None = None) -> str:
        """Return value, or "" with a problem if a one-line field holds a line break."""
        if self.fields[key].multiline or not (match := ONE_LINE.search(value)):
            return value
        if key not in self.reported:
            self.reported.add(key)
            self.fail(
                key,
                f"{key} innehåller tecknet U+{ord(match.group()):04X} (en radbrytning eller "
                "ett osynligt styrtecken): skriv värdet på en rad",
                index,
            )
        return ""

    def texts(self, key: str) -> tuple[str, ...]:
        self.declared(key, "texts", "campaigns")
        value = self.doc.meta.get(key)
        if value in (None, ""):
            return ()
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            self.fail(key, f"{key} ska vara en text eller en lista med texter")
            return ()
        return tuple(
            text
            for index, v in enumerate(values)
            if (text := self.one_line(key, v.strip(), index if len(values) > 1 else None))
        )

    def date(self, key: str) -> dt.date | None:
        value = self._moment(key, "date", DATE, "inget datum: skriv ÅÅÅÅ-MM-DD, t.ex. 2022-03-15")
        return dt.date.fromisoformat(value) if value else None

    def datetime(self, key: str) -> dt.datetime | None:
        value = self._moment(
            key,
            "datetime",
            DATETIME,
            "ingen tidpunkt: skriv datum och klockslag i svensk tid, t.ex. 2023-03-14T09:00",
        )
        return dt.datetime.fromisoformat(value).replace(tzinfo=STOCKHOLM) if value else None

    def _moment(self, key: str, kind: Kind, form: re.Pattern[str], wrong: str) -> str | None:
        """Return a date or date-time value that exists, or None (with a problem if it is bad)."""
        value = self.raw_text(self.declared(key, kind))
        if not value:
            return None
        if not form.match(value):
            self.fail(key, f'{key} "{shown(value)}" är {wrong}')
            return None
        reason = _no_such_day(value[:10]) or (kind == "datetime" and _no_such_time(value[11:]))
        if reason:
            self.fail(key, f'{key} "{value}" finns inte: {reason}')
            return None
        return value

    def choice(self, key: str) -> str:
        declared = self.declared(key, "choice")
        choices, default = declared.choices, str(declared.default)
        value = self.raw_text(declared) or default
        if value not in choices:
            self.fail(
                key,
                f'{key} "{shown(value)}" måste vara {one_of(choices)}{_closest(value, choices)}',
            )
            return default
        return value

    def companion(self, key: str, needed: bool) -> None:
        """Report key missing, at the key it goes with, when that one is set (needed).

        Written at all is enough: an empty text is a choice (a decorative image).
        """
        declared = self.fields[key]
        if needed and key not in self.doc.meta:
            self.fail(declared.required_with, f"{key} saknas{declared.hint}")

    def unknown(self) -> None:
        keys = tuple(self.fields)
        for key in self.doc.meta:
            if key not in keys:
                self.fail(
                    key,
                    f'okänt fält "{shown(key)}"{did_you_mean(key, keys)}; det används inte',
                    severity=WARNING,
                    rule="unknown-key",
                )


def _closest(value: str, choices: dict[str, str]) -> str:
    """Return '; menade du "ready"?' for the value closest to value or to its Swedish meaning."""
    words = {choice: choice for choice in choices}
    words.update({meaning.split()[0]: choice for choice, meaning in choices.items()})
    close = difflib.get_close_matches(value.strip().casefold(), list(words), n=1, cutoff=0.6)
    return f'; menade du "{words[close[0]]}"?' if close else ""


def _no_such_day(text: str) -> str:
    """Return why a date written ÅÅÅÅ-MM-DD does not exist, or "" if it does."""
    year, month, day = (int(part) for part in text.split("-"))
    if not 1 <= month <= 12:
        return f"det finns ingen månad {month}, året har tolv månader"
    try:
        dt.date(year, month, day)
    except ValueError:
        return f"{MONTHS[month - 1]} {year} har ingen dag {day}"
    return ""


def _no_such_time(text: str) -> str:
    """Return why a time written TT:MM (or TT:MM:SS) does not exist, or "" if it does."""
    hour, minute, *second = (int(part) for part in text.split(":"))
    if hour > 23 or minute > 59 or any(s > 59 for s in second):
        return "dygnet går från 00:00 till 23:59"
    return ""


def _place(
    doc: Document,
    site: Site,
    folder_url: str,
    target: str,
    raw_files: dict[str, int],
    source_folder: Path,
) -> Place:
    return Place(
        doc.path,
        doc.body_line,
        folder_url,
        target,
        source_folder,
        raw_files,
        site.base_url,
        site.root,
    )


def _markdown(doc: Document, place: Place, problems: list[Problem]) -> Markup:
    markup, found = render_markdown(doc.body, place)
    problems += found
    return markup


def _url(fields: _Fields, key: str, place: Place) -> tuple[str, Any]:
    value = fields.raw_text(fields.declared(key, "url"))
    if not value:
        return "", None
    absolute, asset, found = resolve_url(value, _Place_for_key(place, fields.doc.line(key)))
    fields.problems.extend(found)
    if absolute is None and not found:
        fields.fail(key, f'{key} "{shown(value)}" är ingen tillåten adress: använd https://…')
    return absolute or "", asset


def _Place_for_key(place: Place, line: int) -> Place:  # noqa: N802 - reads as a constructor
    return Place(
        place.path,
        line,
        place.folder_url,
        place.target_folder,
        place.source_folder,
        place.files,
        place.base_url,
        place.root,
    )


def contrast(color: str, against: str = "#ffffff") -> float:
    """Return the WCAG 2 contrast ratio between two hex colours."""

    def luminance(hex_color: str) -> float:
        h = hex_color.lstrip("#")
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(color), luminance(against)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _campaign(doc: Document, tree: Tree, site: Site, problems: list[Problem]) -> Campaign | None:
    before = len(problems)
    f = _Fields(doc, problems, schema.CAMPAIGN)
    slug = _file_name(doc, problems)
    place = _place(
        doc,
        site,
        urls.folder_url(site, urls.CAMPAIGNS),
        urls.CAMPAIGNS,
        tree.campaign_files,
        tree.root / "campaigns",
    )
    name = f.text("name")
    color = f.text("color") or str(f.declared("color", "color").default)
    if not COLOR.match(color):
        f.fail("color", f'color "{shown(color)}" ska vara en hexfärg som #8a1538')
    elif (ratio := contrast(color)) < 4.5:
        f.fail(
            "color",
            f"color {color} har kontrast {ratio:.2f}:1 mot vitt; ".replace(".", ",")
            + "text och knappar kräver minst 4,5:1 (WCAG AA): välj en mörkare nyans",
            rule="contrast",
        )
    url, _ = _url(f, "url", place)
    logo, logo_asset = _url(f, "logo", place)
    logo_alt = f.text("logo_alt")
    f.companion("logo_alt", bool(logo))
    f.unknown()
    _placeholders(f)
    body = _markdown(doc, place, problems)
    if _failed(problems, before):
        return None
    return Campaign(
        slug=slug,
        path=doc.path,
        name=name,
        color=color.lower(),
        url=url,
        contact=f.text("contact"),
        logo=logo_asset or logo or None,
        logo_alt=logo_alt,
        body=body,
    )


def _placeholders(f: _Fields, draft: bool = False) -> None:
    """Report every text that `nyhetsbrev new` wrote for the coordinator to replace.

    An error, except in a draft issue (which is published nowhere): there a warning, so
    that `plan` and `build` still run while the year is being planned, and `--strict`
    still fails.
    """
    severity, when = (WARNING, " innan numret blir ready") if draft else (ERROR, "")
    for key, placeholder in schema.PLACEHOLDER_FIELDS.items():
        value = f.doc.meta.get(key)
        if isinstance(value, str) and value.strip() == placeholder:
            f.fail(
                key,
                f'{key} är fortfarande exemplet "{placeholder}" från `nyhetsbrev new`: '
                f"skriv den riktiga texten{when}",
                severity=severity,
                rule="placeholder",
            )
    for number, line in enumerate(f.doc.body.split("\n")):
        for start in scaffold.PLACEHOLDER_BODIES:
            if start in line:
                f.problems.append(
                    Problem(
                        f.doc.path,
                        f.doc.body_line + number,
                        f'texten börjar fortfarande med exemplet "{start} …" från '
                        f"`nyhetsbrev new`: skriv den riktiga texten i stället{when}",
                        severity,
                        "placeholder",
                    )
                )


def _file_name(doc: Document, problems: list[Problem]) -> str:
    """Return the slug (file name without .md), or "" with a problem if it cannot be one."""
    slug = doc.path.rsplit("/", 1)[-1][:-3]
    if match := ONE_LINE.search(slug):
        problems.append(
            Problem(
                doc.path,
                1,
                f"filnamnet innehåller tecknet U+{ord(match.group()):04X} (en radbrytning "
                "eller ett osynligt styrtecken): byt namn på filen",
            )
        )
        return ""
    if any(c.isspace() for c in slug):  # the slug is an HTML id and part of the item's id
        better = campaign_names.folded(slug) or "text"
        problems.append(
            Problem(
                doc.path,
                1,
                "filnamnet har ett mellanslag, som inte fungerar i länkar: byt namn på filen, "
                f'till exempel till "{better}.md"',
            )
        )
        return ""
    return slug


def _failed(problems: list[Problem], before: int) -> bool:
    return any(p.severity == ERROR for p in problems[before:])


def _issue(
    raw: RawIssue, site: Site, campaigns: dict[str, str], problems: list[Problem]
) -> Issue | None:
    before = len(problems)
    folder_rel = f"newsletters/{raw.year}/{raw.id}"
    if not re.match(r"^\d{4}$", raw.year):
        problems.append(Problem(folder_rel, 1, f'mappen "{raw.year}" ska vara ett årtal (ÅÅÅÅ)'))
        return None
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", raw.id):
        problems.append(
            Problem(
                folder_rel,
                1,
                f'numrets mapp "{raw.id}" får bara innehålla '
                "a–z, 0–9 och bindestreck, t.ex. 2022-03",
            )
        )
        return None
    if raw.doc is None:
        if not any(p.path == f"{folder_rel}/issue.md" for p in problems):
            problems.append(
                Problem(
                    f"{folder_rel}/issue.md",
                    1,
                    f"issue.md saknas: skapa den med `nyhetsbrev new issue {raw.id}`",
                )
            )
        return None
    doc = raw.doc
    f = _Fields(doc, problems, schema.ISSUE)
    target = urls.issue_folder(raw.year, raw.id)
    folder_url = urls.folder_url(site, target)

    def place(d: Document) -> Place:
        return _place(d, site, folder_url, target, raw.files, raw.folder)

    date = f.date("date")
    if date and str(date.year) != raw.year:
        f.fail("date", f"datumet {date} ligger inte i året {raw.year} som mappen anger")
    status = f.choice("status")
    items = [
        item
        for d in raw.items
        if (item := _item(d, raw, site, campaigns, place(d), problems, status == "draft"))
    ]
    ordered = _order(f, items, raw)
    intro = _markdown(doc, place(doc), problems)
    f.unknown()
    _placeholders(f, status == "draft")
    if _failed(problems, before) or date is None:
        return None
    title = f.text("title") or issue_title(date.year, date.month)
    preheader = f.text("preheader") or default_preheader(ordered, intro)
    return Issue(
        raw.id,
        int(raw.year),
        doc.path,
        date,
        title,
        preheader,
        status,
        intro,
        tuple(ordered),
        dict(doc.lines),
    )


def default_preheader(items: list[Item], intro: Markup) -> str:
    """Return a 40-130 character preheader from the item titles (or the intro)."""
    text = " · ".join(i.title for i in items) or intro.first_paragraph
    if len(text) < 40 and intro.first_paragraph and text != intro.first_paragraph:
        text = f"{text} – {intro.first_paragraph}"
    if len(text) > 130:
        text = text[:129].rsplit(" ", 1)[0].rstrip(" ·–,") + "…"
    return text


def _order(f: _Fields, items: list[Item], raw: RawIssue) -> list[Item]:
    by_slug = {i.slug: i for i in items}
    all_slugs = raw.slugs
    wanted = f.texts("order")
    chosen: list[Item] = []
    for index, slug in enumerate(wanted):
        if slug not in all_slugs:
            f.fail(
                "order",
                f'order nämner "{shown(slug)}" men det finns ingen {shown(slug)}.md i numret'
                f"{did_you_mean(slug, all_slugs)}",
                index,
            )
        elif slug in (c.slug for c in chosen):
            f.fail("order", f'"{shown(slug)}" står två gånger i order', index)
        elif slug in by_slug:
            chosen.append(by_slug[slug])
    rest = sorted((i for i in items if i not in chosen), key=lambda i: (i.date, i.slug))
    return chosen + rest


def _item(
    doc: Document,
    raw: RawIssue,
    site: Site,
    campaigns: dict[str, str],
    place: Place,
    problems: list[Problem],
    draft: bool = False,
) -> Item | None:
    before = len(problems)
    f = _Fields(doc, problems, schema.ITEM)
    slug = _file_name(doc, problems)
    title = f.text("title")
    date = f.date("date")
    item_campaigns = _campaigns(f, campaigns)
    delmal = _delmal(f)
    kind = f.choice("type")
    start, end = f.datetime("start"), f.datetime("end")
    if kind == "event" and start is None and not f.has("start"):
        f.fail("type", "ett evenemang (type: event) behöver start, t.ex. start: 2022-04-21T09:00")
    if start and end and end <= start:
        f.fail("end", f"end ({end:%Y-%m-%d %H:%M}) ska vara efter start ({start:%Y-%m-%d %H:%M})")
    if kind == "news" and (f.has("start") or f.has("registration")):
        f.fail(
            "type",
            "start/registration anges bara för evenemang: lägg till type: event",
            severity=WARNING,
            rule="event-fields",
        )
    image, image_asset = _url(f, "image", place)
    f.companion("image_alt", f.has("image"))
    registration, _ = _url(f, "registration", place)
    link, _ = _url(f, "link", place)
    f.unknown()
    _placeholders(f, draft)
    body = _markdown(doc, place, problems)
    if _failed(problems, before) or date is None:
        return None
    return Item(
        slug=slug,
        path=doc.path,
        issue_id=raw.id,
        year=int(raw.year),
        title=title,
        date=date,
        id=f.text("id") or f"{raw.year}/{raw.id}/{slug}",
        campaigns=item_campaigns,
        summary=f.text("summary") or body.first_paragraph,
        delmal=delmal,
        malgrupp=f.texts("malgrupp"),
        type=kind,
        start=start,
        end=end,
        location=f.text("location"),
        registration=registration,
        image=image,
        image_asset=image_asset,
        image_alt=f.text("image_alt"),
        link=link,
        body=body,
        lines=dict(doc.lines),
    )


def _campaigns(f: _Fields, names: dict[str, str]) -> tuple[str, ...]:
    """Return the slugs of the item's campaigns, each written as its slug or its name."""
    written = f.texts("campaign")
    slugs: list[str] = []
    for index, value in enumerate(written):
        slug = campaign_names.find(value, names)
        if slug is None:
            f.fail(
                "campaign",
                campaign_names.unknown(value, names),
                index if len(written) > 1 else None,
            )
        elif slug not in slugs:
            slugs.append(slug)
    return tuple(slugs)


def _delmal(f: _Fields) -> tuple[int, ...]:
    values = f.doc.meta.get(f.declared("delmal", "goals").key)
    if values in (None, ""):
        return ()
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, list):
        f.fail("delmal", "delmal ska vara en lista med heltalen 1–5, t.ex. [1, 5]")
        return ()
    goals = []
    for index, value in enumerate(values):
        # isdecimal, not isdigit: "¹" is a digit that int() refuses.
        if not (isinstance(value, str) and value.strip().isdecimal() and 1 <= int(value) <= 5):
            f.fail("delmal", f'delmål "{shown(value)}" finns inte: delmålen är heltalen 1–5', index)
        else:
            goals.append(int(value))
    return tuple(sorted(set(goals)))


def _unique_ids(issues: list[Issue], problems: list[Problem]) -> None:
    seen: dict[str, Item] = {}
    for item in sorted((i for issue in issues for i in issue.items), key=lambda i: i.path):
        if item.id in seen:
            first = seen[item.id]
            problems.append(
                Problem(
                    item.path,
                    item.lines.get("id", 1),
                    f'id "{shown(item.id)}" används redan i {first.path}:'
                    f"{first.lines.get('id', 1)}: varje text behöver ett eget id",
                )
            )
        else:
            seen[item.id] = item


def _unique_issue_ids(raws: tuple[RawIssue, ...], problems: list[Problem]) -> None:
    seen: dict[str, RawIssue] = {}
    for raw in raws:
        if raw.id in seen:
            problems.append(
                Problem(
                    f"newsletters/{raw.year}/{raw.id}/issue.md",
                    1,
                    f'numret "{raw.id}" finns redan i newsletters/'
                    f"{seen[raw.id].year}/: ge det ett annat namn",
                )
            )
        seen.setdefault(raw.id, raw)
