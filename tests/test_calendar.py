"""events.ics and the per-event .ics files, read back with icalendar."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import lxml.html
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from .conftest import edit

BASE = "https://nyhetsbrev.example.se"
EVENT = "newsletters/2022/2022-03/webbinarium.md"
UTC = dt.UTC


def read(path: Path) -> Calendar:
    return Calendar.from_ical(path.read_bytes())


def events(cal: Calendar) -> dict[str, object]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_events_ics_has_every_event_at_the_right_time_across_the_dst_change(built_basic):
    cal = read(built_basic / "events.ics")
    assert str(cal["VERSION"]) == "2.0"
    found = events(cal)
    assert list(found) == [
        "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0004",
        "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0006",
    ]
    webinar, conference = found.values()
    # 31 March is after summer time began (27 March 2022); 3 November after it ended.
    assert webinar.decoded("DTSTART").astimezone(UTC) == dt.datetime(2022, 3, 31, 7, tzinfo=UTC)
    assert webinar.decoded("DTEND").astimezone(UTC) == dt.datetime(2022, 3, 31, 9, 30, tzinfo=UTC)
    start = conference.decoded("DTSTART")
    assert start.astimezone(UTC) == dt.datetime(2022, 11, 3, 12, tzinfo=UTC)
    assert start.utcoffset() == dt.timedelta(hours=1)
    assert conference.decoded("DTEND").astimezone(UTC) == dt.datetime(2022, 11, 3, 15, tzinfo=UTC)
    text = (built_basic / "events.ics").read_bytes().decode()
    assert "DTSTART;TZID=Europe/Stockholm:20220331T090000\r\n" in text
    assert "DTSTART;TZID=Europe/Stockholm:20221103T130000\r\n" in text


def test_vtimezone_alone_gives_the_right_offsets(built_basic):
    """A calendar program that knows no tz database reads the offsets from VTIMEZONE."""
    cal = read(built_basic / "events.ics")
    zones = cal.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Stockholm"]
    tz = zones[0].to_tz()
    offsets = {
        day: dt.datetime(2022, *day, 12).replace(tzinfo=tz).utcoffset()
        for day in [(3, 26), (3, 28), (10, 29), (10, 31), (11, 3)]
    }
    hour = dt.timedelta(hours=1)
    assert offsets == {
        (3, 26): hour,
        (3, 28): 2 * hour,
        (10, 29): 2 * hour,
        (10, 31): hour,
        (11, 3): hour,
    }


def test_event_fields_come_from_the_item(built_basic):
    webinar = events(read(built_basic / "events.ics"))["6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0004"]
    assert str(webinar["SUMMARY"]) == "Webbinarium: våldsutsatta kvinnor i missbruk"
    assert str(webinar["LOCATION"]) == "Digitalt via Teams"
    assert str(webinar["URL"]) == f"{BASE}/2022/2022-03/#webbinarium"
    assert str(webinar["DESCRIPTION"]) == (
        "Ett webbinarium om kvinnor i missbruk som utsätts för våld.\n\n"
        "Anmälan: https://www.example.se/anmalan/missbruk\n\n"
        f"Läs mer: {BASE}/2022/2022-03/#webbinarium"
    )
    # DTSTAMP from the item's date (14 March, 08:00 in Stockholm), never the clock.
    assert webinar.decoded("DTSTAMP") == dt.datetime(2022, 3, 14, 7, tzinfo=UTC)


def test_every_calendar_link_in_email_and_web_has_its_own_ics_file(built_basic):
    links = set()
    for page in ("email.html", "index.html"):
        for folder in ("2022/2022-03", "2022/2022-10"):
            html = lxml.html.fromstring((built_basic / folder / page).read_bytes())
            links |= {
                a.get("href") for a in html.iter("a") if (a.get("href") or "").endswith(".ics")
            }
    text = (built_basic / "2022/2022-10/email.txt").read_text()
    assert f"{BASE}/2022/2022-10/konferens.ics" in text
    assert links == {f"{BASE}/2022/2022-03/webbinarium.ics", f"{BASE}/2022/2022-10/konferens.ics"}
    whole = events(read(built_basic / "events.ics"))
    for link in links:
        cal = read(built_basic / link.removeprefix(f"{BASE}/"))
        ((uid, event),) = events(cal).items()
        assert event.to_ical() == whole[uid].to_ical()
        assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Europe/Stockholm"]


def test_news_items_are_not_in_the_calendar(built_basic):
    summaries = [str(e["SUMMARY"]) for e in read(built_basic / "events.ics").walk("VEVENT")]
    assert "Handlingsplanen för 2022 är klar" not in summaries
    assert not list(built_basic.glob("2022/2022-03/handlingsplan.ics"))


def test_event_ending_before_it_starts_is_an_error_at_its_line(run, tree, tmp_path):
    out = tmp_path / "out"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    before = (out / "events.ics").read_bytes()
    edit(tree, EVENT, "end: 2022-03-31T11:30", "end: 2022-03-31T08:30")
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"{EVENT}:9: end (2022-03-31 08:30) ska vara efter start (2022-03-31 09:00)"
    )
    assert "Traceback" not in result.output
    assert (out / "events.ics").read_bytes() == before


def test_event_without_start_is_an_error_at_its_type_line(run, tree, tmp_path):
    edit(tree, EVENT, "start: 2022-03-31T09:00\n", "")
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"{EVENT}:7: ett evenemang (type: event) behöver start, t.ex. start: 2022-04-21T09:00"
    )
    result = run("build", "--root", tree, "--out", tmp_path / "out")
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


def test_events_ics_lines_are_folded_and_crlf(built_basic):
    data = (built_basic / "events.ics").read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert not re.search(rb"[^\r]\n", data)
    assert max(len(line) for line in data.split(b"\r\n")) <= 75


def test_shared_blocks_give_the_bytes_of_each_calendar_built_alone(tmp_path):
    """Each VEVENT and time-zone block is made once; every file is still what calendar() makes."""
    from benchmarks.synthetic import write_tree
    from nyhetsbrev.build import pipeline
    from nyhetsbrev.build.calendar import calendar, calendar_files, event_path, uid

    write_tree(tmp_path / "innehall", 2)
    content = pipeline.load_content(tmp_path / "innehall").content
    site = content.site
    events = sorted((i for i in content.items if i.is_event), key=lambda i: (i.start, uid(site, i)))
    alone = [("events.ics", calendar(site, events, f"Kalendarium – {site.title}"))]
    alone += [(event_path(i), calendar(site, [i], i.title)) for i in events]
    assert len(alone) == 73  # 24 issues of three events, and events.ics
    assert calendar_files(content) == alone


# Text with what escaping and folding have to get right (backslashes, "\\N", ";", ",",
# line breaks, a caret, characters of one to four octets), in the names a calendar carries.
TRICKY = st.text(
    st.sampled_from(["a", " ", "\\", "N", ";", ",", "\n", "\r", "^", "ö", "€", "😀", ":", '"']),
    max_size=300,
)


@pytest.fixture(scope="module")
def content_with_event():
    from nyhetsbrev.build.pipeline import load_content

    from .conftest import FIXTURES

    content = load_content(FIXTURES / "basic").content
    return content, next(i for i in content.items if i.is_event)


@settings(max_examples=30, deadline=None)
@given(
    first=st.integers(1971, 2036),
    years=st.integers(0, 12),
    day=st.integers(0, 364),
    organisation=TRICKY.map(lambda t: t.replace("\n", "").replace("\r", "")),  # one line
    title=TRICKY.map(lambda t: t.replace("\n", "").replace("\r", "")),
)
@example(first=2022, years=0, day=89, organisation="Länsstyrelsen", title="Webbinarium")
def test_a_calendar_is_written_as_icalendar_writes_it(
    content_with_event, first, years, day, organisation, title
):
    """The parts made once and put together (head, time-zone block for any span of years,
    events) give calendar()'s bytes for the whole file."""
    from dataclasses import replace

    from nyhetsbrev.build.calendar import _assembled, _vevent, calendar
    from nyhetsbrev.content.models import STOCKHOLM

    content, item = content_with_event
    site = replace(content.site, organisation=organisation)
    start = dt.datetime(first, 1, 1, 10, tzinfo=STOCKHOLM) + dt.timedelta(days=day)
    item = replace(item, title=title, start=start, end=start.replace(year=first + years))
    expected = calendar(site, [item], item.title)
    assert _assembled(site, [item], [_vevent(site, item)], item.title) == expected
