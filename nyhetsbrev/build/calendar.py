"""Event items -> iCalendar (RFC 5545): events.ics with every event, and one .ics per event.

Pure: values in, (path, bytes) out. Times are Europe/Stockholm with its VTIMEZONE, UIDs come
from the item's `id` and DTSTAMP from its `date`, so a rebuild gives the same bytes.

icalendar writes every part (escaping, folding, the time-zone block), but each part only
once: an event's VEVENT is shared by events.ics and the event's own file, and a head or a
time-zone block by every file that has it. calendar() builds a whole file in one go; it is
what the tests compare with and the path for times in another zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from nyhetsbrev.build.feeds import clean, published
from nyhetsbrev.content.models import STOCKHOLM, Content, Item, Site
from nyhetsbrev.urls import CALENDAR, event_path, permalink
from nyhetsbrev.vocabulary import CALENDAR_NAME

if TYPE_CHECKING:
    from icalendar import Calendar, Event

Output = tuple[str, bytes]


def calendar_files(content: Content) -> list[Output]:
    """Return events.ics with every event item, and <year>/<issue-id>/<slug>.ics per event.

    Each VEVENT is serialized once and each time-zone block once per span of years, and
    both are shared by events.ics and the events' own files: the same bytes as building
    every file on its own (calendar(), the reference and the path for other time zones).
    """
    site = content.site
    events = sorted((i for i in content.items if i.is_event), key=lambda i: (i.start, uid(site, i)))
    if not all(_in_stockholm(item) for item in events):
        files = [(CALENDAR, calendar(site, events, f"{CALENDAR_NAME} – {site.title}"))]
        return files + [(event_path(i), calendar(site, [i], i.title)) for i in events]
    blocks = [_vevent(site, item) for item in events]
    files = [(CALENDAR, _assembled(site, events, blocks, f"{CALENDAR_NAME} – {site.title}"))]
    for item, block in zip(events, blocks, strict=True):
        files.append((event_path(item), _assembled(site, [item], [block], item.title)))
    return files


END = b"END:VCALENDAR\r\n"


def _in_stockholm(item: Item) -> bool:
    """Return whether the event's times are all Europe/Stockholm (the only zone check allows)."""
    return (
        all(
            getattr(moment.tzinfo, "key", None) == STOCKHOLM.key
            for moment in (item.start, item.end)
            if moment is not None
        )
        and item.start is not None
    )


def _assembled(site: Site, events: list[Item], blocks: list[bytes], name: str) -> bytes:
    """Return calendar(site, events, name) from the events' serialized VEVENTs.

    icalendar writes a calendar as its head (the properties), then its time-zone blocks
    (add_missing_timezones puts them first), then the events, then END: each part here is
    icalendar's own bytes for that part, made once.
    """
    years = [moment.year for item in events for moment in (item.start, item.end) if moment]
    zone = _timezone(min(years), max(years)) if years else b""
    return _head(site.organisation, name) + zone + b"".join(blocks) + END


def _head(organisation: str, name: str) -> bytes:
    """Return calendar(site, [], name) without its end: icalendar's bytes for the head."""
    from icalendar import Calendar

    cal = Calendar()
    _add_head(cal, organisation, name)
    data = bytes(cal.to_ical())
    assert data.endswith(END)
    return data[: -len(END)]


def _add_head(cal: Calendar, organisation: str, name: str) -> None:
    cal.add("prodid", f"-//{clean(organisation)}//Nyhetsbrev//SV")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", clean(name))
    cal.add("x-wr-timezone", STOCKHOLM.key)


def _vevent(site: Site, item: Item) -> bytes:
    """Return the event's VEVENT as icalendar writes it (made once, shared by every file)."""
    return bytes(event(site, item).to_ical())


@lru_cache(maxsize=64)
def _timezone(first: int, last: int) -> bytes:
    """Return the Europe/Stockholm VTIMEZONE that calendar() adds for events in these
    years, as icalendar makes and writes it."""
    from icalendar import Timezone

    zone = Timezone.from_tzid(
        STOCKHOLM.key, first_date=dt.date(first, 1, 1), last_date=dt.date(last + 1, 1, 1)
    )
    return bytes(zone.to_ical())


def uid(site: Site, item: Item) -> str:
    """Return the event's UID: its `id` (a UUID as is, RFC 7986), else `id@host`."""
    try:
        return str(uuid.UUID(item.id))
    except ValueError:
        return f"{quote(item.id, safe='/:!$&()*+,;=-._~')}@{site.host}"


def calendar(site: Site, events: Iterable[Item], name: str) -> bytes:
    """Return a VCALENDAR with the given events and the VTIMEZONE they need."""
    from icalendar import Calendar

    cal = Calendar()
    _add_head(cal, site.organisation, name)
    years = []
    for item in events:
        cal.add_component(event(site, item))
        years += [moment.year for moment in (item.start, item.end) if moment]
    if years:
        # Only the years the events need: the default span (1970-2038) is 70 years of rules.
        cal.add_missing_timezones(dt.date(min(years), 1, 1), dt.date(max(years) + 1, 1, 1))
    return bytes(cal.to_ical())


def event(site: Site, item: Item) -> Event:
    """Return one VEVENT: times in Europe/Stockholm, UID from `id`, DTSTAMP from `date`."""
    from icalendar import Event

    assert item.start is not None
    ev = Event()
    ev.add("uid", uid(site, item))
    ev.add("dtstamp", published(item).astimezone(dt.UTC))
    ev.add("dtstart", item.start)
    if item.end:
        ev.add("dtend", item.end)
    ev.add("summary", clean(item.title))
    ev.add("description", clean(description(site, item)))
    if item.location:
        ev.add("location", clean(item.location))
    ev.add("url", permalink(site, item))
    return ev


def description(site: Site, item: Item) -> str:
    """Return an event's plain-text description: its text, then where to sign up and read."""
    parts = [item.body.text or item.summary]
    if item.registration:
        parts.append(f"Anmälan: {item.registration}")
    parts.append(f"Läs mer: {permalink(site, item)}")
    return "\n\n".join(parts)
