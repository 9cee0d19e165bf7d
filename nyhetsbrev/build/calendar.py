"""Event items -> iCalendar (RFC 5545): events.ics with every event, and one .ics per event.

Pure: values in, (path, bytes) out. Times are Europe/Stockholm with its VTIMEZONE, UIDs come
from the item's `id` and DTSTAMP from its `date`, so a rebuild gives the same bytes.

The files are written line by line as icalendar writes them (escaping, folding, order of
properties, the time-zone block), without building its objects, which cost more than the
rest of a rebuild's calendar; calendar() builds the same with icalendar, and is both what
the tests compare with and the path for times in another zone.
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
    """Return calendar(site, events, name) from the events' serialized VEVENTs."""
    head = _head(site, name)
    years = [moment.year for item in events for moment in (item.start, item.end) if moment]
    zone = _timezone(min(years), max(years)) if years else b""
    return head + zone + b"".join(blocks) + END


def _head(site: Site, name: str) -> bytes:
    """Return calendar(site, [], name) without its end, in icalendar's order and escaping."""
    return b"".join(
        _line(line)
        for line in (
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            f"PRODID:{_text(f'-//{clean(site.organisation)}//Nyhetsbrev//SV')}",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            f"X-WR-CALNAME:{clean(name)}",  # an X- property: icalendar writes it verbatim
            f"X-WR-TIMEZONE:{ZONE}",
        )
    )


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


# How far icalendar's search for a change of offset steps, from long to short.
STEPS = [dt.timedelta(days=d) for d in (64, 32, 16, 8, 4, 2, 1)] + [
    dt.timedelta(hours=4),
    dt.timedelta(hours=1),
    dt.timedelta(minutes=20),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=1),
    dt.timedelta(seconds=20),
    dt.timedelta(seconds=5),
    dt.timedelta(seconds=1),
]


@lru_cache(maxsize=64)
def _timezone(first: int, last: int) -> bytes:
    """Return the Europe/Stockholm VTIMEZONE that calendar() adds for events in these years.

    icalendar's Timezone.from_tzinfo, step for step (with zoneinfo, as icalendar uses it):
    the spans of one UTC offset from 1 January of the first year to 1 January after the
    last, grouped by (offset before, offset, name, standard or summer time), each group a
    STANDARD or DAYLIGHT block with its first start and the others as RDATE.
    """
    first_date, last_date = dt.date(first, 1, 1), dt.date(last + 1, 1, 1)
    start = dt.datetime(first, 1, 1, tzinfo=STOCKHOLM)
    stop = dt.datetime(last + 1, 1, 1, tzinfo=STOCKHOLM)
    groups: dict[tuple[dt.timedelta | None, dt.timedelta, str, bool], list[dt.datetime]] = {}
    offset_to: dt.timedelta | None = None
    while start < stop:
        offset_from, end = offset_to, start
        offset_to = end.utcoffset()
        assert offset_to is not None
        for step in STEPS:
            last_end = end
            end = end + step
            try:
                while end.utcoffset() == offset_to:
                    last_end = end
                    end = end + step
            except OverflowError:
                break
            end = last_end
        name = start.tzname() or str(offset_to)
        key = (offset_from, offset_to, name, start.dst() == dt.timedelta())
        groups.setdefault(key, []).append(start.replace(tzinfo=None))
        start = end + STEPS[-1]
    lines = [
        f"TZID:{ZONE}",
        f"COMMENT:{_text(f'This timezone only works from {first_date} to {last_date}.')}",
    ]
    for (before, after, tzname, standard), starts in groups.items():
        first_start = min(starts)
        starts.remove(first_start)
        if first_start.date() == last_date:
            first_start = dt.datetime(last_date.year, last_date.month, last_date.day)
        kind = "STANDARD" if standard else "DAYLIGHT"
        lines += [f"BEGIN:{kind}", f"DTSTART:{_local(first_start)}"]
        if starts:
            lines.append(f"RDATE:{','.join(_local(moment) for moment in starts)}")
        lines.append(f"TZNAME:{_text(tzname)}")
        lines.append(f"TZOFFSETFROM:{_offset(after if before is None else before)}")
        lines += [f"TZOFFSETTO:{_offset(after)}", f"END:{kind}"]
    return b"BEGIN:VTIMEZONE\r\n" + b"".join(map(_line, lines)) + b"END:VTIMEZONE\r\n"


def _offset(offset: dt.timedelta) -> str:
    """Return a UTC offset as icalendar writes it: +HHMM, with seconds only when there are."""
    sign, offset = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
    hours = abs(offset.days * 24 + offset.seconds // 3600)
    minutes, seconds = (offset.seconds % 3600) // 60, offset.seconds % 60
    return (
        f"{sign}{hours:02}{minutes:02}{seconds:02}" if seconds else f"{sign}{hours:02}{minutes:02}"
    )


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
