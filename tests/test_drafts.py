"""Drafts never reach the public outputs; `serve` shows them, marked; `check` still checks them.

The basic fixture gets two drafts: one with `status: draft` in a new year (the newest issue,
so it would move every feed's date), with a campaign item, an event, an image and a PDF; and
one in 2022 with no `status` at all (a draft by default). Every output is parsed back.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import feedparser
import icalendar
import pytest
from lxml import html as lxml_html

from nyhetsbrev.preview.serve import Preview, Site

from .conftest import EXPECTED
from .test_golden import files

SECRET = "HEMLIGT UTKAST"  # in every title and text of the drafts
PNG = (Path(__file__).parent / "fixtures/basic/newsletters/2022/2022-03/plan.png").read_bytes()


def add_drafts(tree: Path) -> None:
    """Add the two drafts described above to a copy of the basic fixture."""
    folder = tree / "newsletters/2023/2023-02"
    folder.mkdir(parents=True)
    (folder / "issue.md").write_text(
        f"---\ndate: 2023-02-20\ntitle: {SECRET} februari\nstatus: draft\n---\n"
        f"{SECRET}: inledningen.\n",
        "utf-8",
    )
    (folder / "skyddat.png").write_bytes(PNG)
    (folder / "underlag.pdf").write_bytes(b"%PDF-1.4\n% " + SECRET.encode() + b"\n%%EOF\n")
    (folder / "nyhet.md").write_text(
        "---\n"
        f"title: {SECRET} om skyddat boende\n"
        "date: 2023-02-18\n"
        "id: 6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0101\n"
        "campaign: [svartsjuka, valj-att-sluta]\n"
        "delmal: [3]\n"
        "image: skyddat.png\n"
        "image_alt: En bild\n"
        "---\n"
        f"{SECRET}. Se [underlaget](underlag.pdf).\n",
        "utf-8",
    )
    (folder / "mote.md").write_text(
        "---\n"
        f"title: {SECRET} möte\n"
        "date: 2023-02-18\n"
        "id: 6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0102\n"
        "campaign: svartsjuka\n"
        "type: event\n"
        "start: 2023-03-01T09:00\n"
        "end: 2023-03-01T10:00\n"
        "location: Jönköping\n"
        "---\n"
        f"{SECRET} i kalendern.\n",
        "utf-8",
    )
    folder = tree / "newsletters/2022/2022-12"
    folder.mkdir(parents=True)
    (folder / "issue.md").write_text(
        f"---\ndate: 2022-12-14\ntitle: {SECRET} december\n---\nInledning.\n", "utf-8"
    )
    (folder / "notis.md").write_text(
        "---\n"
        f"title: {SECRET} i december\n"
        "date: 2022-12-10\n"
        "id: 6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0103\n"
        "campaign: valj-att-sluta\n"
        "---\n"
        "Text.\n",
        "utf-8",
    )


@pytest.fixture
def drafted(tree: Path) -> Path:
    add_drafts(tree)
    return tree


@pytest.fixture
def built(run, drafted: Path, tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "public"
    result = run("build", "--root", drafted, "--out", out)
    assert result.exit_code == 0, result.output
    return out, result.stdout


def test_drafts_add_not_one_byte_to_the_output(built):
    out, _ = built
    published = {n: b for n, b in files(out).items() if not n.startswith("pagefind/")}
    assert published == files(EXPECTED / "basic")


def test_the_search_index_knows_nothing_of_a_draft(built):
    out, _ = built
    fragments = list((out / "pagefind").rglob("*.pf_fragment"))
    assert fragments, "the build wrote no search index"
    for fragment in fragments:
        assert SECRET.encode() not in gzip.decompress(fragment.read_bytes()), fragment


def test_no_file_feed_entry_event_link_or_asset_of_a_draft(built):
    out, _ = built
    names = [p.relative_to(out).as_posix() for p in out.rglob("*")]
    assert not [n for n in names if "2023" in n or "2022-12" in n]
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
            assert b"2023-02" not in path.read_bytes(), path
    campaigns = [f"campaigns/{slug}/" for slug in ("svartsjuka", "valj-att-sluta")]
    for feed in [f"{c}{name}" for c in ("", *campaigns) for name in ("feed.xml", "atom.xml")]:
        parsed = feedparser.parse((out / feed).read_bytes())
        assert not parsed.bozo, feed
        for entry in parsed.entries:
            assert SECRET not in entry.title and "/2023/" not in entry.link
            assert "/2022/2022-12/" not in entry.link
    for entry in json.loads((out / "feed.json").read_bytes())["items"]:
        assert SECRET not in entry["title"] and "2023" not in entry["url"]
    calendar = icalendar.Calendar.from_ical((out / "events.ics").read_bytes())
    events = calendar.walk("VEVENT")
    assert events and all(SECRET not in str(e["SUMMARY"]) for e in events)
    assert "6f1c0c2e-8a5e-4b43-9d38-1b0c1a9e0102" not in [str(e["UID"]) for e in events]
    for page in ["index.html", *(f"{c}index.html" for c in campaigns)]:
        tree = lxml_html.fromstring((out / page).read_bytes())
        links = tree.xpath("//a/@href")
        assert links and not [h for h in links if "2023" in h or "2022-12" in h], page
        assert SECRET not in tree.text_content()


def test_the_closing_line_counts_what_was_published_and_names_the_drafts(built):
    _, stdout = built
    assert stdout.startswith("Klart: 3 nummer, 6 texter (2 evenemang), ")
    assert stdout.endswith(" s. Två utkast publicerades inte: 2022-12, 2023-02.\n")


def test_check_still_checks_drafts(run, drafted):
    item = drafted / "newsletters/2023/2023-02/mote.md"
    item.write_text(
        item.read_text("utf-8").replace("type: event", "delmal: [9]\ntype: event"), "utf-8"
    )
    result = run("check", "--root", drafted)
    assert result.exit_code == 1
    assert "newsletters/2023/2023-02/mote.md:" in result.stderr
    assert 'delmål "9" finns inte' in result.stderr


def test_serve_shows_drafts_marked_as_drafts(drafted):
    site = Site(Preview(drafted))
    index = lxml_html.fromstring(site.get("/").body)
    rows = {row.xpath("string(td[1])").strip(): row for row in index.xpath("//table/tbody/tr")}
    assert len(rows) == 5
    marked = {title for title, row in rows.items() if row.xpath(".//*[@class='utkast']")}
    assert marked == {f"{SECRET} februari", f"{SECRET} december"}
    page = lxml_html.fromstring(site.get("/nummer/2023/2023-02/").body)
    [label] = page.xpath("//*[@class='utkast']")
    assert label.text_content().startswith("Utkast")
    assert "build" in page.xpath("string(//*[@id='utkast'])")
    ready = lxml_html.fromstring(site.get("/nummer/2022/2022-10/").body)
    assert ready.xpath("//*[@class='utkast']") == []
    web = site.get("/utskick/2023/2023-02/index.html")
    assert web.status == 200 and SECRET.encode() in web.body


def test_an_issue_set_back_to_draft_leaves_the_site_on_the_next_build(run, tree, tmp_path):
    out = tmp_path / "public"
    assert run("build", "--root", tree, "--out", out).exit_code == 0
    assert (out / "2022/2022-10/index.html").is_file()
    assert "Hotell Test" in (out / "events.ics").read_text("utf-8")
    issue = tree / "newsletters/2022/2022-10/issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: ready", "status: draft"), "utf-8")
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 0 and "Ett utkast publicerades inte: 2022-10." in result.stdout
    assert not (out / "2022/2022-10").exists()
    assert b"2022-10/" not in (out / "feed.xml").read_bytes()
    assert "Hotell Test" not in (out / "events.ics").read_text("utf-8")
