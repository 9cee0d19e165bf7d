"""A campaign as a coordinator writes it: its slug or its name, case and accents ignored.

One home for the rule, used by `check` (an item's `campaign:`) and by `new item --campaign`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from slugify import slugify

from nyhetsbrev.errors import shown


def folded(text: str) -> str:
    """Return text without case, accents and punctuation: "Välj att sluta" -> "valj-att-sluta"."""
    return slugify(text)


def find(value: str, names: Mapping[str, str]) -> str | None:
    """Return the slug of the campaign that value names (slug or name), or None.

    names maps each campaign's slug to its name. A slug written exactly wins; then a slug
    or a name equal to value once case, accents and punctuation are set aside, if only one
    campaign matches.
    """
    if value in names:
        return value
    key = folded(value)
    if not key:
        return None
    matches = {slug for slug, name in names.items() if key in (folded(slug), folded(name))}
    return matches.pop() if len(matches) == 1 else None


def suggestion(value: str, names: Mapping[str, str]) -> str:
    """Return ' (menade du "slug" (Name)?)' for a campaign whose name contains the word."""
    key = folded(value)
    if not key:
        return ""
    close = [
        slug
        for slug, name in sorted(names.items())
        if key in folded(name) or key in folded(slug) or folded(slug) in key
    ]
    if len(close) != 1:
        by_key = {folded(slug): slug for slug in names}
        close = [by_key[k] for k in difflib.get_close_matches(key, list(by_key), n=1)]
    return f" (menade du {pair(close[0], names)}?)" if close else ""


def pair(slug: str, names: Mapping[str, str]) -> str:
    """Return '"slug" (Name)', or '"slug"' when the campaign has no readable name."""
    name = names.get(slug)
    return f'"{slug}" ({shown(name, 60)})' if name else f'"{slug}"'


def choices(names: Mapping[str, str]) -> str:
    """Return every campaign as '"slug" (Name)', sorted by slug, or "inga"."""
    return ", ".join(pair(slug, names) for slug in sorted(names)) or "inga"


def unknown(value: str, names: Mapping[str, str]) -> str:
    """Return the message for a campaign that value does not name."""
    return (
        f'okänd kampanj "{shown(value)}"{suggestion(value, names)}; skriv kampanjens '
        f"filnamn eller namn. Kända kampanjer: {choices(names)}"
    )
