"""Event items -> iCalendar (RFC 5545): events.ics with every event, and one .ics per event.

Pure: values in, (path, bytes) out. Times are Europe/Stockholm with its VTIMEZONE, UIDs come
from the item's `id` and DTSTAMP from its `date`, so a rebuild gives the same bytes.
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
    from icalendar import Event

Output = tuple[str, bytes]


def calendar_files(content: Content) -> list[Output]:
    """Return events.ics with every event item, and <year>/<issue-id>/<slug>.ics per event.

    Each VEVENT is serialized once (by _vevent, without building icalendar's objects) and
    each time-zone block once per span of years, and both are shared by events.ics and the
    events' own files: the same bytes as building every file on its own with icalendar
    (calendar(), which stays the reference and builds what this fast path does not cover).
    """
    site = content.site
    events = sorted((i for i in content.items if i.is_event), key=lambda i: (i.start, uid(site, i)))
    if len(events) < SHARED_FROM or not all(_in_stockholm(item) for item in events):
        files = [(CALENDAR, calendar(site, events, f"{CALENDAR_NAME} – {site.title}"))]
        return files + [(event_path(i), calendar(site, [i], i.title)) for i in events]
    blocks = [_vevent(site, item) for item in events]
    files = [(CALENDAR, _assembled(site, events, blocks, f"{CALENDAR_NAME} – {site.title}"))]
    for item, block in zip(events, blocks, strict=True):
        files.append((event_path(item), _assembled(site, [item], [block], item.title)))
    return files


END = b"END:VCALENDAR\r\n"
SHARED_FROM = 16  # events; fewer are built one calendar at a time (less set-up)


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
    """Return calendar(site, events, name) from the events' serialized VEVENTs."""
    head = _head(site, name)
    years = [moment.year for item in events for moment in (item.start, item.end) if moment]
    zone = _timezone(min(years), max(years)) if years else b""
    return head + zone + b"".join(blocks) + END


def _head(site: Site, name: str) -> bytes:
    """Return calendar(site, [], name) without its end: the site's lines are made once."""
    before, after = _around_name(site)
    return before + _name_line(name) + after


def _name_line(name: str) -> bytes:
    """Return the X-WR-CALNAME line as icalendar writes it (a text value)."""
    return _line(f"X-WR-CALNAME:{_text(clean(name))}")


def _vevent(site: Site, item: Item) -> bytes:
    """Return event(site, item).to_ical() for an event whose times are in Stockholm.

    The properties in icalendar's order (its canonical order for an event, then the
    others by name), each value escaped and each line folded as icalendar does.
    """
    assert item.start is not None
    lines = [f"SUMMARY:{_text(clean(item.title))}", f"DTSTART;TZID={ZONE}:{_local(item.start)}"]
    if item.end:
        lines.append(f"DTEND;TZID={ZONE}:{_local(item.end)}")
    lines.append(f"DTSTAMP:{_local(published(item).astimezone(dt.UTC))}Z")
    lines.append(f"UID:{_text(uid(site, item))}")
    lines.append(f"DESCRIPTION:{_text(clean(description(site, item)))}")
    if item.location:
        lines.append(f"LOCATION:{_text(clean(item.location))}")
    lines.append(f"URL:{permalink(site, item)}")
    return b"BEGIN:VEVENT\r\n" + b"".join(_line(line) for line in lines) + b"END:VEVENT\r\n"


ZONE = STOCKHOLM.key


def _local(moment: dt.datetime) -> str:
    """Return a date-time as icalendar writes it, without its zone (no fraction)."""
    return (
        f"{moment.year:04}{moment.month:02}{moment.day:02}"
        f"T{moment.hour:02}{moment.minute:02}{moment.second:02}"
    )


def _text(value: str) -> str:
    """Escape a TEXT value as icalendar does (RFC 5545 3.3.11, in its order)."""
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


FOLD = 74  # octets a folded line holds at most: icalendar folds before the 75th


def _line(line: str) -> bytes:
    """Return a content line folded as icalendar folds it, with its CRLF.

    Each piece is the longest run of whole characters of at most 74 octets, except that
    a piece never ends in a backslash or a caret (icalendar moves it to the next piece, so
    an escape is not split).
    """
    data = line.encode()
    if len(data) <= FOLD:
        return data + b"\r\n"
    pieces = []
    start = 0
    while len(data) - start > FOLD:
        end = start + FOLD
        while data[end] & 0xC0 == 0x80:  # inside a character: cut before it
            end -= 1
        if data[end - 1] in b"\\^" and end - 1 > start:
            end -= 1
        pieces.append(data[start:end])
        start = end
    pieces.append(data[start:])
    return b"\r\n ".join(pieces) + b"\r\n"


@lru_cache(maxsize=8)
def _around_name(site: Site) -> tuple[bytes, bytes]:
    """Return an empty calendar's bytes before and after its name line (and without END)."""
    sample = "Kalender för prov"
    head, line = calendar(site, [], sample), _name_line(sample)
    if not head.endswith(END) or head.count(line) != 1:
        raise ValueError("icalendar wrote an unexpected calendar")
    before, _, after = head[: -len(END)].partition(line)
    return before, after


@lru_cache(maxsize=64)
def _timezone(first: int, last: int) -> bytes:
    """Return the Europe/Stockholm VTIMEZONE that calendar() adds for events in these years."""
    from icalendar import Calendar, Event

    cal = Calendar()
    probe = Event()
    probe.add("dtstart", dt.datetime(first, 1, 1, 12, tzinfo=STOCKHOLM))
    cal.add_component(probe)
    cal.add_missing_timezones(dt.date(first, 1, 1), dt.date(last + 1, 1, 1))
    zones = cal.walk("VTIMEZONE")
    if len(zones) != 1:
        raise ValueError("icalendar made no single time-zone block")
    return bytes(zones[0].to_ical())


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
    cal.add("prodid", f"-//{clean(site.organisation)}//Nyhetsbrev//SV")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", clean(name))
    cal.add("x-wr-timezone", "Europe/Stockholm")
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
