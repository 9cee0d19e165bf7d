"""The authority's pages, links and settings, read from the built files (no browser)."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from nyhetsbrev.content.phones import link_phones, link_text, tel_href

STATEMENT = """
[accessibility]
status = "delvis förenlig"
assessed = 2026-10-01
updated = 2026-11-02
method = "Granskad av en extern byrå med tangentbord och skärmläsare."
known_issues = ["Kartan i nummer mars 2022 går inte att använda med tangentbord."]
exempt = ["Inspelade webbinarier från 2021 saknar undertexter: oskäligt betungande."]
outside = ["Dokument publicerade före den 23 september 2018."]
feedback = "mailto:tillganglighet@example.se"

[safety]
exit_url = "https://www.smhi.se/"
"""


def configure(tree: Path, text: str) -> None:
    """Replace the tree's [accessibility], [safety] and [privacy] sections with text."""
    path = tree / "newsletter.toml"
    kept = path.read_text("utf-8").split("\n[accessibility]")[0]
    path.write_text(kept + "\n" + text, "utf-8")


def build(run, tree: Path, *more: str):
    out = tree.parent / "public"
    result = run("build", "--root", tree, "--out", out, *more)
    return result, out


def pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("index.html") if "pagefind" not in p.parts)


def test_statement_holds_every_element_digg_requires(run, tree):
    configure(tree, STATEMENT)
    result, out = build(run, tree)
    assert result.exit_code == 0, result.output
    doc = lxml_html.fromstring((out / "tillganglighet" / "index.html").read_bytes())
    text = " ".join(doc.text_content().split())
    assert doc.findtext(".//h1") == "Tillgänglighet för Testbrevet"
    for expected in (
        "Länsstyrelsen i Testlän står bakom webbplatsen Testbrevet",
        "Webbplatsen är delvis förenlig med lagen om tillgänglighet till digital offentlig service",
        "Kartan i nummer mars 2022 går inte att använda med tangentbord.",
        "Inspelade webbinarier från 2021 saknar undertexter: oskäligt betungande.",
        "Dokument publicerade före den 23 september 2018.",
        "Granskad av en extern byrå med tangentbord och skärmläsare.",
        "Senaste bedömningen gjordes den 1 oktober 2026.",
        "Redogörelsen uppdaterades senast den 2 november 2026.",
        "WCAG 2.1",
    ):
        assert expected in text, expected
    hrefs = doc.xpath("//main//a/@href")
    assert "mailto:tillganglighet@example.se" in hrefs
    assert "https://www.digg.se/tdosanmalan" in hrefs


@pytest.mark.parametrize("status", ["helt förenlig", "inte förenlig"])
def test_statement_states_the_compliance_given(tree, status):
    from nyhetsbrev.build import archive_pages
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.build.render import environment

    configure(tree, STATEMENT.replace("delvis förenlig", status))
    content = load_content(tree).content
    files = dict(archive_pages.outputs(environment(), content))
    text = files["tillganglighet/index.html"].decode()
    assert f"Webbplatsen är <strong>{status}</strong>" in text
    assert ("på grund av de brister" in text) == (status != "helt förenlig")


def test_every_page_has_the_quick_exit_the_footer_links_and_its_own_metadata(run, tree):
    configure(tree, STATEMENT)
    path = tree / "newsletter.toml"
    website = '[footer]\nwebsite = "https://www.example.se/lansstyrelsen"\n'
    path.write_text(path.read_text("utf-8").replace("[footer]\n", website), "utf-8")
    result, out = build(run, tree)
    assert result.exit_code == 0, result.output
    found = pages(out)
    assert len(found) == 9  # archive, 3 issues, 2 campaigns, 3 pages
    sitemap = etree.fromstring((out / "sitemap.xml").read_bytes())
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = sitemap.xpath("//s:loc/text()", namespaces=ns)
    for page in found:
        path = page.relative_to(out).as_posix().removesuffix("index.html")
        url = f"https://nyhetsbrev.example.se/{path}"
        doc = lxml_html.fromstring(page.read_bytes())
        assert doc.get("lang") == "sv", path
        exits = doc.xpath("//a[@data-quick-exit]")
        assert [a.get("href") for a in exits] == ["https://www.smhi.se/"], path
        assert exits[0].text == "Lämna sidan snabbt"
        assert doc.xpath("//a[@data-quick-exit]/following-sibling::a")[0].text == "Surfa tryggt"
        footer = [a.get("href") for a in doc.xpath("//footer//a")]
        assert "https://www.example.se/lansstyrelsen" in footer  # the organisation's site
        assert "mailto:svar@example.se" in footer
        depth = "../" * path.count("/")
        for target in ("tillganglighet/", "surfa-tryggt/", "integritet/"):
            assert depth + target in footer, (path, footer)
        assert doc.xpath("//link[@rel='canonical']/@href") == [url], path
        assert doc.xpath("//meta[@property='og:url']/@content") == [url], path
        assert doc.xpath("//meta[@property='og:title']/@content")[0].strip(), path
        description = doc.xpath("//meta[@name='description']/@content")
        assert description and description[0].strip(), path
        assert doc.xpath("//meta[@property='og:description']/@content") == description, path
        assert url in locs, path
    assert len(locs) == len(found)
    assert (
        (out / "robots.txt")
        .read_text("utf-8")
        .endswith("Sitemap: https://nyhetsbrev.example.se/sitemap.xml\n")
    )


def test_safety_page_gives_concrete_advice_and_the_free_line(built_basic):
    doc = lxml_html.fromstring((built_basic / "surfa-tryggt" / "index.html").read_bytes())
    text = " ".join(doc.text_content().split())
    for expected in ("privat fönster", "historik", "samma telefon, dator", "telefonräkningen"):
        assert expected in text
    assert "Kvinnofridslinjen 020-50 50 50 svarar dygnet runt. Samtalet är gratis" in text
    assert doc.xpath("//main//a[text()='020-50 50 50']/@href") == ["tel:+4620505050"]
    assert doc.xpath("//main//a[text()='112']/@href") == ["tel:112"]


def test_privacy_notice_comes_from_the_privacy_settings(built_basic):
    doc = lxml_html.fromstring((built_basic / "integritet" / "index.html").read_bytes())
    text = " ".join(doc.text_content().split())
    for expected in (
        "Personuppgiftsansvarig Länsstyrelsen i Testlän",
        "Rättslig grund Allmänt intresse (artikel 6.1 e i dataskyddsförordningen).",
        "Hur länge vi sparar uppgifterna Tills du avslutar prenumerationen.",
        "sätter inga kakor",
    ):
        assert expected in text, expected
    assert "mailto:dataskydd@example.se" in doc.xpath("//main//a/@href")


def test_phone_numbers_are_tel_links_in_web_pages_and_email(built_basic):
    web = lxml_html.fromstring((built_basic / "2022" / "2022-10" / "index.html").read_bytes())
    footer = {a.text: a.get("href") for a in web.xpath("//footer//a[starts-with(@href,'tel:')]")}
    assert footer == {"020-50 50 50": "tel:+4620505050", "020-555 666": "tel:+4620555666"}
    mail = lxml_html.fromstring((built_basic / "2022" / "2022-10" / "email.html").read_bytes())
    links = mail.xpath("//a[starts-with(@href,'tel:')]")
    assert {a.text: a.get("href") for a in links} == footer
    for link in links:  # the colour of every other link, not the client's default blue
        assert "color:#1d4f91" in link.get("style").replace(" ", ""), link.get("style")
    text = (built_basic / "2022" / "2022-10" / "email.txt").read_text("utf-8")
    assert "Kvinnofridslinjen 020-50 50 50 (+4620505050)" in text
    assert "Välj att sluta 020-555 666 (+4620555666)" in text
    eml = email.message_from_bytes(
        (built_basic / "2022" / "2022-10" / "email.eml").read_bytes(), policy=email.policy.default
    )
    assert 'href="tel:+4620505050"' in eml.get_body(("html",)).get_content()


def test_email_carries_archived_at_pointing_at_the_web_version(built_basic):
    raw = (built_basic / "2022" / "2022-03" / "email.eml").read_bytes()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Archived-At"] == "<https://nyhetsbrev.example.se/2022/2022-03/>"


@pytest.mark.parametrize(
    ("number", "href"),
    [
        ("020-50 50 50", "tel:+4620505050"),
        ("020-555 666", "tel:+4620555666"),
        ("08-123 456 78", "tel:+46812345678"),
        ("0771-11 11 00", "tel:+46771111100"),
        ("112", "tel:112"),
    ],
)
def test_tel_href_is_the_international_form(number, href):
    assert tel_href(number) == href


def test_phone_links_skip_dates_links_and_code():
    html = (
        "<p>Ring 020-50 50 50 den 2022-05-12, eller ring 112.</p>"
        '<p><a href="x">020-555 666</a> <code>020-555 666</code></p>'
    )
    linked = link_phones(html)
    assert linked.count("<a ") == 3
    assert '<a href="tel:+4620505050">020-50 50 50</a>' in linked
    assert '<a href="tel:112">112</a>' in linked
    assert "2022-05-12" in linked and "tel:+46" + "2205" not in linked
    assert "<code>020-555 666</code>" in linked
    assert link_text("A & B 020-555 666") == 'A &amp; B <a href="tel:+4620555666">020-555 666</a>'


# --- settings and check --------------------------------------------------------------------


def check_lines(run, tree: Path, code: int) -> list[str]:
    """Run check on tree, assert its exit code, and return the lines it printed on stderr."""
    result = run("check", "--root", tree)
    assert result.exit_code == code, result.output
    return result.stderr.splitlines()


def line_of(tree: Path, start: str) -> int:
    lines = (tree / "newsletter.toml").read_text("utf-8").split("\n")
    return next(n for n, line in enumerate(lines, 1) if line.startswith(start))


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        (
            'status = "delvis förenlig"',
            'status = "nästan förenlig"',
            "status",
            '[accessibility] status "nästan förenlig" måste vara helt förenlig (allt uppfyller '
            "kraven), delvis förenlig (det mesta uppfyller kraven) eller inte förenlig (det "
            "mesta uppfyller inte kraven)",
        ),
        (
            "assessed = 2026-10-01",
            'assessed = "i höstas"',
            "assessed",
            "[accessibility] assessed ska vara ett datum, till exempel 2026-10-01",
        ),
        (
            'feedback = "mailto:tillganglighet@example.se"',
            'feedback = "tillganglighet@example.se"',
            "feedback",
            '[accessibility] feedback ska börja med "mailto:" eller "https://", '
            'inte "tillganglighet@example.se"',
        ),
        (
            'exit_url = "https://www.smhi.se/"',
            'exit_url = "www.smhi.se"',
            "exit_url",
            '[safety] exit_url ska vara en absolut https-adress, inte "www.smhi.se"',
        ),
        (
            'method = "Granskad av en extern byrå med tangentbord och skärmläsare."\n',
            "",
            "[accessibility]",
            "[accessibility] method saknas",
        ),
    ],
)
def test_bad_settings_are_errors_with_their_line(run, tree, old, new, key, message):
    configure(tree, STATEMENT.replace(old, new))
    line = line_of(tree, key)
    assert f"newsletter.toml:{line}: {message}" in check_lines(run, tree, 1)


def test_missing_privacy_setting_is_an_error(run, tree):
    path = tree / "newsletter.toml"
    path.write_text(path.read_text("utf-8").replace('retention = "Tills du', 'x = "'), "utf-8")
    line = line_of(tree, "[privacy]")
    assert f"newsletter.toml:{line}: [privacy] retention saknas" in check_lines(run, tree, 1)


def test_missing_logo_file_is_an_error_and_a_given_logo_is_published(run, tree):
    path = tree / "newsletter.toml"
    text = path.read_text("utf-8").replace(
        "[footer]\n", '[footer]\nlogo = "logo.png"\nlogo_alt = "Länsstyrelsen i Testlän"\n'
    )
    path.write_text(text, "utf-8")
    assert (
        f'newsletter.toml:{line_of(tree, "logo =")}: [footer] logo "logo.png" finns inte '
        "(sökvägen utgår från roten)"
    ) in check_lines(run, tree, 1)
    (tree / "logo.png").write_bytes((tree / "newsletters/2022/2022-03/plan.png").read_bytes())
    result, out = build(run, tree)
    assert result.exit_code == 0, result.output
    assert (out / "logo.png").read_bytes() == (tree / "logo.png").read_bytes()
    doc = lxml_html.fromstring((out / "2022" / "2022-03" / "index.html").read_bytes())
    assert doc.xpath("//footer//img/@src") == ["../../logo.png"]
    assert doc.xpath("//footer//img/@alt") == ["Länsstyrelsen i Testlän"]


def test_check_warns_when_the_assessment_is_more_than_a_year_old(run, tree):
    configure(tree, STATEMENT.replace("assessed = 2026-10-01", "assessed = 2025-11-25"))
    line = line_of(tree, "assessed")
    assert (
        f"newsletter.toml:{line}: varning: [accessibility] assessed 2025-11-25 är mer än ett år "
        "gammal: granska webbplatsens tillgänglighet igen och uppdatera datumet [accessibility]"
    ) in check_lines(run, tree, 0)
    assert run("check", "--root", tree, "--strict").exit_code == 1
    configure(tree, STATEMENT.replace("assessed = 2026-10-01", "assessed = 2025-11-26"))
    assert "[accessibility]" not in run("check", "--root", tree).stderr


def test_check_warns_when_there_is_no_statement(run, tree):
    configure(tree, "")
    lines = check_lines(run, tree, 0)
    assert any(
        re.match(r"newsletter\.toml:1: varning: \[accessibility\] saknas: .* \(lag 2018:1937\)", s)
        for s in lines
    ), lines
    assert any(s.startswith("newsletter.toml:1: varning: [privacy] saknas") for s in lines)


def test_a_build_that_cannot_index_leaves_the_old_output(run, tree, monkeypatch):
    result, out = build(run, tree)
    assert result.exit_code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    monkeypatch.setenv("PAGEFIND_BINARY_PATH", str(tree / "ingen-pagefind"))
    shutil.rmtree(tree / "newsletters/2021")  # a change the failed build must not publish
    result, _ = build(run, tree)
    assert result.exit_code == 1
    assert "sökindexet kunde inte byggas" in result.stderr
    assert "ingen-pagefind finns inte" in result.stderr  # and how to install it
    assert "pip install 'pagefind[bin]'" in result.stderr
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not list(out.parent.glob(".public-ny-*"))


def test_the_preview_serves_the_script_its_web_version_loads(tree):
    import urllib.request

    from nyhetsbrev.preview.serve import start

    server = start(tree)
    try:
        with urllib.request.urlopen(server.url + "utskick/2022/2022-03/index.html") as r:
            page = r.read().decode()
        assert '<script src="../../site.js" defer></script>' in page
        with urllib.request.urlopen(server.url + "utskick/site.js") as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert b"data-quick-exit" in r.read()
    finally:
        server.stop()
