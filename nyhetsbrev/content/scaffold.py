"""New content files with valid, commented front matter: an issue, an item, a campaign.

Each front-matter field's comment and example come from its declaration in `schema`; the
comments are in Swedish because a coordinator reads and edits these files. A file that
exists is never overwritten: the file is opened with mode "x", so even a race cannot clobber
one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from pathlib import Path

from slugify import slugify

from nyhetsbrev.content import load
from nyhetsbrev.content.campaign_names import find as find_campaign
from nyhetsbrev.content.campaign_names import unknown as unknown_campaign
from nyhetsbrev.content.load import relative
from nyhetsbrev.content.models import issue_title
from nyhetsbrev.errors import ONE_LINE, NyhetsbrevError, known, shown
from nyhetsbrev.schema import CAMPAIGN, ISSUE, ITEM, LOCATION, Field, quoted

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
PLANNED_DAY = 15  # a new issue is planned for the middle of its month

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


def front_matter(fields: tuple[Field, ...], values: dict[str, str], event: bool = False) -> str:
    """Return the front matter `new` writes, between its --- lines, for the declared fields.

    Each field gets its comment, then `key: value` when values has one, otherwise its
    example commented out; a field that belongs to events only when event is set.
    """
    lines = ["---"]
    for field in fields:
        if field.event and not event:
            continue
        lines += [f"# {line}" for line in field.comment.split("\n") if line]
        value = values.get(field.key)
        lines.append(f"{field.key}: {value}" if value else f"# {field.key}: {field.example}")
    return "\n".join([*lines, "---", ""])


def declared(fields: tuple[Field, ...], key: str) -> Field:
    """Return the declaration of key among fields."""
    return next(field for field in fields if field.key == key)


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
    values = {
        "date": date.isoformat(),
        "title": quoted(title),
        "status": str(declared(ISSUE, "status").default),
    }
    text = f"{front_matter(ISSUE, values)}{ISSUE_INTRO}\n"
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
    values = {"title": quoted(title), "date": date.isoformat(), "id": str(uuid.uuid4())}
    if campaign:
        values["campaign"] = campaign
    if event:
        values |= {
            "type": "event",
            "start": f"{date.isoformat()}T09:00",
            "end": f"{date.isoformat()}T12:00",
            "location": quoted(LOCATION),
        }
    return f"{front_matter(ITEM, values, event)}{ITEM_BODY}\n"


def new_campaign(root: Path, slug: str) -> Path:
    """Write campaigns/SLUG.md with a name, an accessible colour and a standing text."""
    if not SLUG.match(slug):
        raise ValueError(
            f'"{slug}" får bara innehålla a–z, 0–9 och bindestreck, '
            f't.ex. "{slugify(slug) or "min-kampanj"}"'
        )
    name = slug.replace("-", " ").capitalize()
    values = {"name": quoted(name), "color": quoted(str(declared(CAMPAIGN, "color").default))}
    text = f"{front_matter(CAMPAIGN, values)}{CAMPAIGN_BODY}\n"
    return _write(root, root / "campaigns" / f"{slug}.md", text)
