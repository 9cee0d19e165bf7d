"""New content files with valid, commented front matter: an issue, an item, a campaign.

The comments are in Swedish because a coordinator reads and edits these files. A file that
exists is never overwritten: the file is opened with mode "x", so even a race cannot clobber
one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import uuid
from pathlib import Path

from slugify import slugify

from . import load
from .campaign_names import find as find_campaign
from .campaign_names import unknown as unknown_campaign
from .errors import ONE_LINE, NyhetsbrevError, known, shown
from .load import relative
from .models import issue_title
from .vocabulary import DEFAULT_CAMPAIGN_COLOR

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
PLANNED_DAY = 15  # a new issue is planned for the middle of its month
DEFAULT_COLOR = DEFAULT_CAMPAIGN_COLOR

# The texts `new` writes for a coordinator to replace. `check` reports each one left in a
# file (rule "placeholder"), so these are also the list it looks for: one home.
ISSUE_INTRO = (
    "Skriv numrets inledning här: en eller två meningar om vad som är nytt sedan förra numret."
)
ITEM_BODY = (
    "Skriv texten här i Markdown. Berätta kort vad som händer, för vem och vad läsaren kan göra."
)
CAMPAIGN_BODY = (
    "Skriv kampanjens stående text här. Den visas en gång per nummer, efter kampanjens texter."
)
LOCATION = "Plats eller Digitalt via Teams"
# Examples written as comments: harmless while commented out, placeholders once uncommented.
PREHEADER_EXAMPLE = "Kort om vad numret innehåller, t.ex. utbildningar och kampanjer under våren."
IMAGE_ALT_EXAMPLE = "Vad bilden visar"
# Front-matter fields whose value, left as written, is a placeholder.
PLACEHOLDER_FIELDS = {
    "location": LOCATION,
    "preheader": PREHEADER_EXAMPLE,
    "image_alt": IMAGE_ALT_EXAMPLE,
}
# Body texts: the words before the first colon or full stop mark a placeholder left in.
PLACEHOLDER_BODIES = tuple(
    re.split(r"[.:]", text, maxsplit=1)[0] for text in (ISSUE_INTRO, ITEM_BODY, CAMPAIGN_BODY)
)


def suggestions(word: str, choices: list[str] | set[str]) -> str:
    """Return ' (menade du "a" eller "b"?)' with up to three close choices, or ''."""
    close = difflib.get_close_matches(word, sorted(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (menade du " + " eller ".join(f'"{c}"' for c in close) + "?)"


def quoted(text: str) -> str:
    """Return text as a double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def issue_folders(root: Path) -> dict[str, Path]:
    """Return every issue folder under newsletters/ by issue id."""
    return {folder.name: folder for folder in load.issue_folders(root)}


def campaign_names(root: Path) -> dict[str, str]:
    """Return the campaigns under campaigns/: slug -> name ("" if the file has none)."""
    names = {}
    for path in load.markdown_files(root / "campaigns"):
        doc = load.read_document(root.resolve(), path, [])
        name = doc.meta.get("name") if doc else None
        names[path.stem] = name.strip() if isinstance(name, str) else ""
    return names


def parse_month(value: str) -> tuple[int, int]:
    """Return (year, month) from 'YYYY-MM', or raise ValueError with a Swedish reason."""
    match = MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f'"{shown(value)}" är ingen månad: skriv ÅÅÅÅ-MM, t.ex. 2023-03')
    return int(match.group(1)), int(match.group(2))


def _write(root: Path, path: Path, text: str) -> Path:
    """Create path with text; refuse if it exists. Return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8", newline="\n") as f:
            f.write(text)
    except FileExistsError:
        raise NyhetsbrevError(
            f"{relative(root.resolve(), path)}:1: filen finns redan och skrivs inte över; "
            "redigera den eller välj ett annat namn"
        ) from None
    return path


def new_issue(root: Path, month: str) -> Path:
    """Write newsletters/YYYY/YYYY-MM/issue.md for a planned issue; return its path."""
    year, number = parse_month(month)
    date = dt.date(year, number, PLANNED_DAY)
    title = issue_title(year, number)
    text = f"""---
# Planerat utskicksdatum, ÅÅÅÅ-MM-DD.
date: {date.isoformat()}
# Numrets rubrik, också ämnesraden i mejlet.
title: {quoted(title)}
# Texten som syns efter ämnesraden i inkorgen: 40–130 tecken, inte samma som rubriken.
# Utan preheader byggs den av texternas rubriker.
# preheader: {quoted(PREHEADER_EXAMPLE)}
# draft (utkast), ready (klart att skicka) eller sent (skickat).
status: draft
# Texternas ordning (filnamn utan .md); utan order sorteras de efter datum.
# order: [forsta-texten, andra-texten]
---
{ISSUE_INTRO}
"""
    return _write(root, root / "newsletters" / str(year) / month / "issue.md", text)


def _issue_date(folder: Path) -> dt.date | None:
    """Return the planned date in the folder's issue.md, if it can be read."""
    path = folder / "issue.md"
    doc = load.read_document(path.parent, path, []) if path.is_file() else None
    try:
        return dt.date.fromisoformat(doc.meta["date"]) if doc else None
    except (KeyError, TypeError, ValueError):
        return None


def new_item(
    root: Path, issue_id: str, title: str, campaign: str | None = None, event: bool = False
) -> Path:
    """Write an item with a fresh UUID into the issue's folder; return its path."""
    folders = issue_folders(root)
    if issue_id not in folders:
        raise NyhetsbrevError(
            f'okänt nummer "{shown(issue_id)}"{suggestions(issue_id, set(folders))}; '
            f"befintliga nummer: {known(folders)}. Skapa ett nytt med "
            f"`nyhetsbrev new issue ÅÅÅÅ-MM`"
        )
    if campaign is not None:
        names = campaign_names(root)
        slug_of_campaign = find_campaign(campaign, names)
        if slug_of_campaign is None:
            raise NyhetsbrevError(unknown_campaign(campaign, names))
        campaign = slug_of_campaign
    title = title.strip()
    if match := ONE_LINE.search(title):
        raise NyhetsbrevError(
            f"rubriken innehåller tecknet U+{ord(match.group()):04X} (en radbrytning eller "
            "ett osynligt styrtecken): skriv rubriken på en rad"
        )
    slug = slugify(title, max_length=60, word_boundary=True)
    if not slug:
        raise NyhetsbrevError("rubriken behöver minst en bokstav eller siffra")
    if slug == "issue":
        slug = "issue-text"  # issue.md is the issue itself
    folder = folders[issue_id]
    date = _issue_date(folder) or dt.date(int(folder.parent.name), 1, 1)
    text = _item_text(title, date, campaign, event)
    return _write(root, folder / f"{slug}.md", text)


def _item_text(title: str, date: dt.date, campaign: str | None, event: bool) -> str:
    lines = [
        "---",
        f"title: {quoted(title)}",
        "# Publiceringsdatum, ÅÅÅÅ-MM-DD (flödets datum). Ska ligga i numrets år.",
        f"date: {date.isoformat()}",
        "# Stabil identitet för flödena: ändra den aldrig.",
        f"id: {uuid.uuid4()}",
    ]
    if campaign:
        lines += [
            "# Kampanj (filnamn i campaigns/ utan .md), en eller en lista.",
            f"campaign: {campaign}",
        ]
    else:
        lines += [
            "# Kampanj (filnamn i campaigns/ utan .md), en eller en lista.",
            "# campaign: svartsjuka",
        ]
    lines += [
        "# En eller två meningar; utan summary används första stycket.",
        '# summary: ""',
        "# Delmål i den regionala strategin, heltal 1–5.",
        "# delmal: [1, 5]",
        "# Målgrupper, fri text.",
        "# malgrupp: [Socialtjänst, Hälso- och sjukvård]",
    ]
    if event:
        lines += [
            "type: event",
            "# Start och slut i svensk tid, t.ex. 2023-03-14T09:00.",
            f"start: {date.isoformat()}T09:00",
            f"end: {date.isoformat()}T12:00",
            f"location: {quoted(LOCATION)}",
            "# Adress till anmälan (https://…).",
            "# registration: https://www.example.se/anmalan",
        ]
    lines += [
        "# Bild i mappen (eller https://…) och en beskrivning för den som inte ser den.",
        "# image: bild.png",
        f"# image_alt: {quoted(IMAGE_ALT_EXAMPLE)}",
        '# Adress för knappen "Läs mer".',
        "# link: https://www.example.se/",
        "---",
        ITEM_BODY,
        "",
    ]
    return "\n".join(lines)


def new_campaign(root: Path, slug: str) -> Path:
    """Write campaigns/SLUG.md with a name, an accessible colour and a standing text."""
    if not SLUG.match(slug):
        raise ValueError(
            f'"{slug}" får bara innehålla a–z, 0–9 och bindestreck, '
            f't.ex. "{slugify(slug) or "min-kampanj"}"'
        )
    name = slug.replace("-", " ").capitalize()
    text = f"""---
# Kampanjens namn, visas på märket vid varje text.
name: {quoted(name)}
# Kampanjens färg (hex). Vit text på färgen måste nå kontrast 4,5:1 (WCAG AA).
color: "{DEFAULT_COLOR}"
# Kampanjens webbplats (https://…).
# url: https://www.example.se/kampanj
# Kontakt, t.ex. en stödlinje: "Välj att sluta 020-555 666".
# contact: ""
# Logotyp i campaigns/ (eller https://…) och en beskrivning av den.
# logo: logotyp.png
# logo_alt: ""
---
{CAMPAIGN_BODY}
"""
    return _write(root, root / "campaigns" / f"{slug}.md", text)
