"""Feeds, calendars and one item's links, made from a fresh tree's content in memory:
`feed_files`, `calendar_files` and `render` are called directly, without a build."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import feedparser
from icalendar import Calendar

from nyhetsbrev.build.calendar import calendar_files, uid
from nyhetsbrev.build.feeds import feed_files, guid, permalink, site_feed
from nyhetsbrev.build.render import actions, when

from ..trees import Fresh

BASE = "https://nyhetsbrev.example.se"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def output(files: list[tuple[str, bytes]], name: str) -> bytes:
    (data,) = [data for path, data in files if path == name]
    return data


def test_feed_length_defaults_to_twenty_without_a_feeds_setting(fresh: Fresh):
    (fresh.folder() / "nyhet.md").unlink()
    for n in range(1, 22):
        fresh.item(f"text-{n:02}", date=dt.date(2022, 3, n))
    feed = feedparser.parse(output(feed_files(fresh.content()), "feed.xml"))
    assert [e.title for e in feed.entries] == [f"Text-{n:02}" for n in range(21, 1, -1)]
    fresh.config(feeds={"items": 5})
    assert len(site_feed(fresh.content()).items) == 5


def test_id_that_is_not_a_uuid_gives_a_tag_uri_and_no_id_gives_the_permalink(fresh: Fresh):
    fresh.event("konferens", id="konferens höst 2022")
    fresh.item("handlingsplan", id=None)
    content = fresh.content()
    site, items = content.site, {i.slug: i for i in content.items}
    assert guid(site, items["konferens"]) == (
        "tag:nyhetsbrev.example.se,2022:konferens%20h%C3%B6st%202022",
        False,
    )
    assert guid(site, items["handlingsplan"]) == (f"{BASE}/2022/2022-03/#handlingsplan", True)
    assert guid(site, items["nyhet"]) == ("urn:uuid:6f1c0c2e-8a5e-4b43-9d38-000000000000", False)
    assert permalink(site, items["handlingsplan"]) == f"{BASE}/2022/2022-03/#handlingsplan"
    assert uid(site, items["konferens"]) == "konferens%20h%C3%B6st%202022@nyhetsbrev.example.se"
    rss = output(feed_files(content), "feed.xml").decode()
    tag = "tag:nyhetsbrev.example.se,2022:konferens%20h%C3%B6st%202022"
    assert f'<guid isPermaLink="false">{tag}</guid>' in rss
    assert f'<guid isPermaLink="true">{BASE}/2022/2022-03/#handlingsplan</guid>' in rss
    ics = output(calendar_files(content), "events.ics").decode()
    assert "UID:konferens%20h%C3%B6st%202022@nyhetsbrev.example.se" in ics


def test_event_without_end_and_over_new_year(fresh: Fresh):
    fresh.event("utan-slut", end=None)
    fresh.event("over-nyar", start="2022-12-30T09:00", end="2023-01-02T16:00")
    content = fresh.content()
    files = calendar_files(content)
    cal = Calendar.from_ical(output(files, "events.ics"))
    found = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    assert "DTEND" not in found["Utan-slut"]
    end = found["Over-nyar"].decoded("DTEND")
    assert end == dt.datetime(2023, 1, 2, 16, tzinfo=STOCKHOLM)
    zone = cal.walk("VTIMEZONE")[0]
    assert "2022-01-01 to 2024-01-01" in str(zone["COMMENT"])
    assert sorted(path for path, _ in files) == [
        "2022/2022-03/over-nyar.ics",
        "2022/2022-03/utan-slut.ics",
        "events.ics",
    ]


def test_an_events_links_and_time_in_swedish(fresh: Fresh):
    fresh.event(
        "webbinarium",
        registration="https://www.example.se/anmalan",
        link="https://www.example.se/program",
    )
    fresh.event("tva-dagar", start="2022-03-30T09:00", end="2022-03-31T12:00")
    items = {i.slug: i for i in fresh.content().items}
    site = fresh.content().site
    webinar = items["webbinarium"]
    assert [(a.kind, a.label, a.url, a.button, a.name) for a in actions(site, webinar)] == [
        ("register", "Anmäl dig", "https://www.example.se/anmalan", True, "Anmäl dig: Webbinarium"),
        ("read", "Läs mer", "https://www.example.se/program", False, "Läs mer: Webbinarium"),
        (
            "calendar",
            "Lägg till i kalendern",
            f"{BASE}/2022/2022-03/webbinarium.ics",
            False,
            "Lägg till i kalendern: Webbinarium",
        ),
    ]
    assert [a.button for a in actions(site, items["tva-dagar"])] == [False]
    assert actions(site, items["nyhet"]) == ()
    assert when(webinar) == "söndag 20 mars 2022 kl. 09.00–11.00"
    assert when(items["tva-dagar"]) == "onsdag 30 mars 2022 kl. 09.00 till 31 mars 2022 kl. 12.00"
