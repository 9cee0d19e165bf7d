"""The feeds of the basic fixture, read back with feedparser, lxml and json."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import replace
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import feedparser
import lxml.etree as etree
import lxml.html
import pytest

from nyhetsbrev.build.calendar import calendar_files
from nyhetsbrev.build.feeds import feed_files
from nyhetsbrev.build.pipeline import load_content
from nyhetsbrev.content.models import Content

from .conftest import edit

BASE = "https://nyhetsbrev.example.se"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
# The fixture's items, newest first; [feeds] items = 5 leaves out the oldest (Orange Week).
NEWEST_FIRST = [
    "Förebyggandekonferens om mäns våld mot kvinnor",
    "Välj att sluta finns för den som utövar våld",
    "Webbinarium: våldsutsatta kvinnor i missbruk",
    "Sprid kampanjen Svartsjuka är inte romantiskt",
    "Handlingsplanen för 2022 är klar",
]
CAMPAIGN_TITLES = {
    "svartsjuka": [NEWEST_FIRST[1], NEWEST_FIRST[3]],
    "valj-att-sluta": [NEWEST_FIRST[1]],
}
XML_FEEDS = ["feed.xml", "atom.xml"] + [
    f"campaigns/{slug}/{name}" for slug in CAMPAIGN_TITLES for name in ("feed.xml", "atom.xml")
]
RSS_FEEDS = [name for name in XML_FEEDS if name.endswith("feed.xml")]
ATOM_FEEDS = [name for name in XML_FEEDS if name.endswith("atom.xml")]


def build(run, tree: Path, out: Path) -> Path:
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def xml(out: Path, name: str) -> etree._Element:
    return etree.fromstring((out / name).read_bytes())


def titles_of(name: str) -> list[str]:
    if name.startswith("campaigns/"):
        return CAMPAIGN_TITLES[name.split("/")[1]]
    return NEWEST_FIRST


@pytest.mark.parametrize("name", XML_FEEDS)
def test_feedparser_reads_every_feed_without_bozo_and_in_order(built_basic, name):
    # feedparser 6.0 reads no JSON Feed; test_json_feed_has_every_required_field reads that one.
    parsed = feedparser.parse((built_basic / name).read_bytes())
    assert parsed.bozo is False, parsed.get("bozo_exception")
    assert [e.title for e in parsed.entries] == titles_of(name)
    assert parsed.feed.language == "sv"


def test_rss_dates_are_rfc822_in_english_with_stockholm_offset_across_dst(built_basic):
    channel = xml(built_basic, "feed.xml").find("channel")
    offsets = {}
    for item in channel.findall("item"):
        text = item.findtext("pubDate")
        assert re.fullmatch(
            r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|"
            r"Aug|Sep|Oct|Nov|Dec) \d{4} 08:00:00 \+0[12]00",
            text,
        ), text
        offsets[item.findtext("title")] = parsedate_to_datetime(text).utcoffset()
    winter, summer = dt.timedelta(hours=1), dt.timedelta(hours=2)
    assert offsets == {
        NEWEST_FIRST[0]: summer,
        NEWEST_FIRST[1]: summer,
        NEWEST_FIRST[2]: winter,
        NEWEST_FIRST[3]: winter,
        NEWEST_FIRST[4]: winter,
    }
    newest = dt.datetime(2022, 10, 19, 8, tzinfo=dt.timezone(summer))
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest
    assert channel.findtext("lastBuildDate") == format_datetime(newest)


def test_atom_dates_are_rfc3339_with_stockholm_offset(built_basic):
    feed = xml(built_basic, "atom.xml")
    assert feed.findtext(f"{ATOM}updated") == "2022-10-19T08:00:00+02:00"
    published = [e.findtext(f"{ATOM}published") for e in feed.findall(f"{ATOM}entry")]
    assert published == [
        "2022-10-19T08:00:00+02:00",
        "2022-10-18T08:00:00+02:00",
        "2022-03-14T08:00:00+01:00",
        "2022-03-12T08:00:00+01:00",
        "2022-03-10T08:00:00+01:00",
    ]
    for entry in feed.findall(f"{ATOM}entry"):
        assert entry.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}published")


def test_campaign_feed_is_dated_by_its_own_newest_item(built_basic):
    channel = xml(built_basic, "campaigns/valj-att-sluta/feed.xml").find("channel")
    assert channel.findtext("lastBuildDate") == "Tue, 18 Oct 2022 08:00:00 +0200"


@pytest.mark.parametrize("name", RSS_FEEDS)
def test_rss_guids_are_unique_uuid_urns_not_permalinks(built_basic, name):
    guids = xml(built_basic, name).findall("channel/item/guid")
    values = [g.text for g in guids]
    assert len(values) == len(set(values)) == len(titles_of(name))
    for guid in guids:
        assert re.fullmatch(r"urn:uuid:6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e000\d", guid.text)
        assert guid.get("isPermaLink") == "false"


@pytest.mark.parametrize("name", ATOM_FEEDS)
def test_atom_ids_are_the_rss_guids(built_basic, name):
    ids = [e.findtext(f"{ATOM}id") for e in xml(built_basic, name).findall(f"{ATOM}entry")]
    rss_name = name.replace("atom.xml", "feed.xml")
    assert ids == [g.text for g in xml(built_basic, rss_name).findall("channel/item/guid")]


@pytest.mark.parametrize("name", XML_FEEDS)
def test_self_link_is_the_public_url_and_the_page_is_the_channel_link(built_basic, name):
    root = xml(built_basic, name)
    folder = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    page = f"{BASE}/{folder}"
    if root.tag == "rss":
        channel = root.find("channel")
        self_links = channel.findall(f"{ATOM}link[@rel='self']")
        assert channel.findtext("link") == page
    else:
        self_links = root.findall(f"{ATOM}link[@rel='self']")
        alternate = root.findall(f"{ATOM}link[@rel='alternate']")
        assert [a.get("href") for a in alternate] == [page]
        assert root.findtext(f"{ATOM}id") == f"{BASE}/{name}"
    assert [link.get("href") for link in self_links] == [f"{BASE}/{name}"]


def test_item_links_point_at_the_item_anchor_in_the_issue(built_basic):
    links = [i.findtext("link") for i in xml(built_basic, "feed.xml").findall("channel/item")]
    assert links[0] == f"{BASE}/2022/2022-10/#konferens"
    assert links[-1] == f"{BASE}/2022/2022-03/#handlingsplan"
    page = lxml.html.fromstring((built_basic / "2022/2022-10/index.html").read_bytes())
    assert page.get_element_by_id("konferens") is not None


def urls_in(html: str) -> list[str]:
    tree = lxml.html.fragment_fromstring(html, create_parent="div")
    return [el.get(attr) for el in tree.iter() for attr in ("href", "src") if el.get(attr)]


def test_urls_inside_content_are_absolute_in_every_format(built_basic):
    rss_html = [e.text for e in xml(built_basic, "feed.xml").iter(CONTENT)]
    atom_html = [e.text for e in xml(built_basic, "atom.xml").iter(f"{ATOM}content")]
    items = json.loads((built_basic / "feed.json").read_text())["items"]
    json_html = [i["content_html"] for i in items]
    for html in rss_html + atom_html + json_html:
        for url in urls_in(html):
            assert url.startswith("https://"), url
    urls = urls_in(rss_html[-1])
    assert f"{BASE}/2022/2022-03/bilaga.pdf" in urls  # written `bilaga.pdf` in the Markdown
    assert f"{BASE}/2022/2022-03/plan.png" in urls  # `image: plan.png`
    assert all("javascript:" not in html and "<script" not in html for html in rss_html)


def test_event_content_links_to_its_own_calendar_file(built_basic):
    html = xml(built_basic, "feed.xml").find("channel/item").find(CONTENT).text
    assert f"{BASE}/2022/2022-10/konferens.ics" in urls_in(html)
    assert "torsdag 3 november 2022 kl. 13.00–16.00" in html


@pytest.mark.parametrize("name", RSS_FEEDS)
def test_description_comes_before_content_encoded(built_basic, name):
    for item in xml(built_basic, name).findall("channel/item"):
        tags = [child.tag for child in item]
        assert tags.index("description") < tags.index(CONTENT)
        assert "<" not in item.findtext("description")  # the summary, as plain text


def test_atom_entries_have_summary_and_html_content(built_basic):
    for entry in xml(built_basic, "atom.xml").findall(f"{ATOM}entry"):
        assert entry.find(f"{ATOM}content").get("type") == "html"
        assert entry.findtext(f"{ATOM}summary")
        assert entry.findtext(f"{ATOM}content").startswith("<p>")


def test_categories_name_the_campaign_with_a_domain(built_basic):
    items = xml(built_basic, "feed.xml").findall("channel/item")
    by_title = {i.findtext("title"): i for i in items}
    cats = by_title[NEWEST_FIRST[1]].findall("category")
    assert [(c.text, c.get("domain")) for c in cats] == [
        ("valj-att-sluta", f"{BASE}/campaigns"),
        ("svartsjuka", f"{BASE}/campaigns"),
    ]
    assert by_title[NEWEST_FIRST[4]].findall("category") == []
    entries = xml(built_basic, "atom.xml").findall(f"{ATOM}entry")
    atom_cats = entries[1].findall(f"{ATOM}category")
    assert [dict(c.attrib) for c in atom_cats] == [
        {"term": "valj-att-sluta", "scheme": f"{BASE}/campaigns", "label": "Välj att sluta"},
        {
            "term": "svartsjuka",
            "scheme": f"{BASE}/campaigns",
            "label": "Svartsjuka är inte romantiskt",
        },
    ]


def test_enclosure_has_the_image_file_length_in_rss_only(built_basic):
    items = xml(built_basic, "feed.xml").findall("channel/item")
    enclosures = [i.find("enclosure") for i in items]
    with_image = [e for e in enclosures if e is not None]
    assert len(with_image) == 1
    size = (built_basic / "2022/2022-03/plan.png").stat().st_size
    assert dict(with_image[0].attrib) == {
        "url": f"{BASE}/2022/2022-03/plan.png",
        "length": str(size),
        "type": "image/png",
    }
    for entry in xml(built_basic, "atom.xml").findall(f"{ATOM}entry"):
        links = entry.findall(f"{ATOM}link")
        assert len(links) == 1 and links[0].get("rel") in (None, "alternate")


def test_json_feed_has_every_required_field(built_basic):
    data = json.loads((built_basic / "feed.json").read_text("utf-8"))
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert data["title"] == "Testbrevet"
    assert data["home_page_url"] == f"{BASE}/"
    assert data["feed_url"] == f"{BASE}/feed.json"
    assert data["language"] == "sv"
    assert [i["title"] for i in data["items"]] == NEWEST_FIRST
    rss_guids = [g.text for g in xml(built_basic, "feed.xml").findall("channel/item/guid")]
    assert [i["id"] for i in data["items"]] == rss_guids
    for item in data["items"]:
        assert {"id", "url", "title", "content_html", "summary", "date_published", "tags"} <= set(
            item
        )
        assert item["url"].startswith(f"{BASE}/2022/")
        assert dt.datetime.fromisoformat(item["date_published"]).utcoffset() in (
            dt.timedelta(hours=1),
            dt.timedelta(hours=2),
        )
    assert data["items"][1]["tags"] == ["valj-att-sluta", "svartsjuka"]
    assert data["items"][1]["date_published"] == "2022-10-18T08:00:00+02:00"


def guids(out: Path) -> dict[str, str]:
    """Return each RSS item's GUID by title, checking that Atom and JSON Feed agree."""
    rss = {
        i.findtext("title"): i.findtext("guid")
        for i in xml(out, "feed.xml").findall("channel/item")
    }
    atom = {
        e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}id")
        for e in xml(out, "atom.xml").findall(f"{ATOM}entry")
    }
    data = {i["title"]: i["id"] for i in json.loads((out / "feed.json").read_text())["items"]}
    assert rss == atom == data
    return rss


def test_moved_and_renamed_item_keeps_its_guid_and_uid(run, tree, tmp_path):
    before = build(run, tree, tmp_path / "before")
    old = tree / "newsletters/2022/2022-03/webbinarium.md"
    shutil.move(old, tree / "newsletters/2022/2022-10/seminarium-om-missbruk.md")
    edit(tree, "newsletters/2022/2022-03/issue.md", "  - webbinarium\n", "")
    after = build(run, tree, tmp_path / "after")

    assert guids(after) == guids(before)
    title = NEWEST_FIRST[2]
    links = {
        i.findtext("title"): i.findtext("link")
        for i in xml(after, "feed.xml").findall("channel/item")
    }
    assert links[title] == f"{BASE}/2022/2022-10/#seminarium-om-missbruk"
    uid = "UID:6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0004"
    assert uid in (before / "events.ics").read_text()
    assert uid in (after / "events.ics").read_text()
    assert uid in (after / "2022/2022-10/seminarium-om-missbruk.ics").read_text()
    assert not (after / "2022/2022-03/webbinarium.ics").exists()


def test_rebuild_gives_the_same_feed_bytes_and_no_clock_time(run, tmp_path, built_basic):
    from .conftest import FIXTURES

    again = build(run, FIXTURES / "basic", tmp_path / "again")
    today = dt.date.today()
    for name in XML_FEEDS + ["feed.json", "events.ics", "2022/2022-03/webbinarium.ics"]:
        data = (again / name).read_bytes()
        assert data == (built_basic / name).read_bytes(), name
        for stamp in (today.isoformat(), today.strftime("%Y%m%d"), today.strftime("%d %b %Y")):
            assert stamp.encode() not in data, (name, stamp)


def with_control_characters(tree: Path) -> Content:
    """Return the fixture's content with control characters in one event's texts.

    `load` refuses such files with a path:line error; the feeds must stay well formed even
    if a value with them reaches them some other way (a template, a future field).
    """
    edit(
        tree,
        "newsletters/2022/2022-10/konferens.md",
        "En eftermiddag om förebyggande arbete.",
        "Fika & <mingel> efter 3 < 4 och a&b.\n\n<b>fet</b> & klart",
    )
    content = load_content(tree).content
    last = content.issues[-1]
    item = next(i for i in last.items if i.slug == "konferens")
    body = replace(
        item.body,
        html=item.body.html.replace("efter", "\x01\x08\x1f efter").replace("klart", "\x0c klart"),
        text=item.body.text.replace("efter", "\x01 efter"),
    )
    bad = replace(
        item,
        title="Möte & <samtal>\x01 om \x0bvåld\x7f\ufffe",
        summary="Fika \x1b& mingel",
        location="Jönköping\x00",
        body=body,
    )
    items = tuple(bad if i is item else i for i in last.items)
    return replace(content, issues=(*content.issues[:-1], replace(last, items=items)))


def test_characters_that_break_xml_still_give_well_formed_feeds(tree):
    content = with_control_characters(tree)
    assert "\x01" in next(i.title for i in content.items if i.slug == "konferens")
    files = dict(feed_files(content) + calendar_files(content))
    for name in XML_FEEDS:
        root = etree.fromstring(files[name])  # lxml refuses a feed that is not well formed
        parsed = feedparser.parse(files[name])
        assert parsed.bozo is False, (name, parsed.get("bozo_exception"))
        text = etree.tostring(root, encoding="unicode", method="text")
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe]", text), name
    for name in ("feed.xml", "atom.xml"):
        entry = feedparser.parse(files[name]).entries[0]
        assert entry.title == "Möte & <samtal> om våld"
        # The summary is text escaped as HTML: readers show "Fika & mingel", never markup.
        assert entry.summary == "Fika &amp; mingel"
        assert re.search(r"<p>Fika &amp; +efter 3 &lt; 4 och a&amp;b\.</p>", entry.content[0].value)
    data = json.loads(files["feed.json"])
    assert data["items"][0]["title"] == "Möte & <samtal> om våld"
    html = data["items"][0]["content_html"]
    assert re.search(r"<p>Fika &amp; +efter 3 &lt; 4 och a&amp;b\.</p>", html)  # nh3 drops <mingel>
    assert re.search(r"<p><b>fet</b> &amp; +klart</p>", html)
    ics = files["events.ics"].decode()
    assert "SUMMARY:Möte & <samtal> om våld\r\n" in ics
    assert "LOCATION:Jönköping\r\n" in ics
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", ics)


def test_ampersand_and_angle_brackets_build_end_to_end(run, tree, tmp_path):
    edit(
        tree,
        "newsletters/2022/2022-03/svartsjuka.md",
        "title: Sprid kampanjen Svartsjuka är inte romantiskt",
        'title: "Svartsjuka & kontroll: <inte> romantiskt"',
    )
    out = build(run, tree, tmp_path / "out")
    for name in XML_FEEDS:
        parsed = feedparser.parse((out / name).read_bytes())
        assert parsed.bozo is False, name
    json.loads((out / "feed.json").read_bytes())
    parsed = feedparser.parse((out / "campaigns/svartsjuka/atom.xml").read_bytes())
    assert parsed.entries[1].title == "Svartsjuka & kontroll: <inte> romantiskt"


def test_every_page_names_the_site_feeds_in_its_head(built_basic):
    pages = ["index.html", "2022/2022-03/index.html", "campaigns/svartsjuka/index.html"]
    for page in pages:
        head = lxml.html.fromstring((built_basic / page).read_bytes()).find("head")
        feeds = {
            (link.get("type"), link.get("href"))
            for link in head.findall("link")
            if link.get("rel") == "alternate"
        }
        assert {
            ("application/rss+xml", f"{BASE}/feed.xml"),
            ("application/atom+xml", f"{BASE}/atom.xml"),
            ("application/feed+json", f"{BASE}/feed.json"),
        } <= feeds, page


def test_campaign_page_lists_its_items_and_links_its_feeds(built_basic):
    page = lxml.html.fromstring((built_basic / "campaigns/svartsjuka/index.html").read_bytes())
    alternates = [
        link.get("href")
        for link in page.find("head").findall("link")
        if link.get("rel") == "alternate"
    ]
    assert f"{BASE}/campaigns/svartsjuka/feed.xml" in alternates
    assert f"{BASE}/campaigns/svartsjuka/atom.xml" in alternates
    assert page.findtext(".//h1") == "Svartsjuka är inte romantiskt"
    listed = page.xpath("//section[@aria-labelledby='texter']//li/a")
    assert [a.text for a in listed] == CAMPAIGN_TITLES["svartsjuka"]
    assert [a.get("href") for a in listed] == [
        "../../2022/2022-10/#valj-att-sluta",
        "../../2022/2022-03/#svartsjuka",
    ]
    subscribe = page.get_element_by_id("prenumerera").getparent()
    hrefs = [a.get("href") for a in subscribe.iter("a")]
    assert hrefs == [
        f"{BASE}/campaigns/svartsjuka/feed.xml",
        f"{BASE}/campaigns/svartsjuka/atom.xml",
    ]
    assert "flödesläsare" in subscribe.text_content()


def test_archive_says_how_to_subscribe_to_each_feed_and_every_link_exists(built_basic):
    page = lxml.html.fromstring((built_basic / "index.html").read_bytes())
    section = page.get_element_by_id("prenumerera").getparent()
    assert section.findtext("h2") == "Prenumerera"
    hrefs = [a.get("href") for a in section.iter("a")]
    assert hrefs == [
        f"{BASE}/feed.xml",
        f"{BASE}/atom.xml",
        f"{BASE}/feed.json",
        f"{BASE}/events.ics",
        "campaigns/svartsjuka/",
        "campaigns/valj-att-sluta/",
    ]
    for href in hrefs:
        path = href.removeprefix(f"{BASE}/")
        assert (built_basic / path).is_file() or (built_basic / path / "index.html").is_file()
    text = section.text_content()
    assert "Lägg till kalender" in text and "Från Internet" in text


def test_campaign_badges_in_issues_lead_to_built_campaign_pages(built_basic):
    page = lxml.html.fromstring((built_basic / "2022/2022-10/index.html").read_bytes())
    badges = [a.get("href") for a in page.find_class("badge")]
    assert badges and all(b.startswith("../../campaigns/") for b in badges)
    for href in badges:
        assert (built_basic / "2022/2022-10" / href / "index.html").resolve().is_file()


def test_campaign_without_items_has_empty_valid_feeds_and_a_page(run, tree, tmp_path):
    (tree / "campaigns/kop-av-sex.md").write_text(
        '---\nname: Köp av sex\ncolor: "#5a2d82"\n---\nOm köp av sex.\n', "utf-8"
    )
    out = build(run, tree, tmp_path / "out")
    for name in ("feed.xml", "atom.xml"):
        parsed = feedparser.parse((out / "campaigns/kop-av-sex" / name).read_bytes())
        assert parsed.bozo is False and parsed.entries == []
    channel = xml(out, "campaigns/kop-av-sex/feed.xml").find("channel")
    assert channel.findtext("lastBuildDate") == "Wed, 19 Oct 2022 08:00:00 +0200"
    page = (out / "campaigns/kop-av-sex/index.html").read_text("utf-8")
    assert "Inga texter om kampanjen ännu." in page


def test_a_summary_that_mentions_a_tag_reaches_readers_as_text(tree, run):
    item = tree / "newsletters/2022/2022-10/valj-att-sluta.md"
    text = item.read_text("utf-8").replace(
        "summary: Stödlinjen Välj att sluta svarar den som vill sluta använda våld.",
        'summary: "Skriv aldrig <script>alert(1)</script> i en text."',
    )
    item.write_text(text, "utf-8")
    out = tree.parent / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    rss = (out / "feed.xml").read_bytes()
    item = next(
        i
        for i in etree.fromstring(rss).iter("item")
        if i.findtext("title") == "Välj att sluta finns för den som utövar våld"
    )
    description = item.findtext("description")
    # Once the XML is read, the description is HTML whose text is the summary.
    assert description == "Skriv aldrig &lt;script&gt;alert(1)&lt;/script&gt; i en text."
    assert b"<script" not in rss
