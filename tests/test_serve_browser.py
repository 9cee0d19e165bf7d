"""The preview in a real browser: Debian's Chromium driven by Playwright.

Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .conftest import REPO

ARTIFACTS = Path(__file__).parent / "artifacts"
WCAG = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]

pytestmark = pytest.mark.browser  # skipped, with one reason, where Chromium is missing


@pytest.fixture
def server(tree):
    from nyhetsbrev.preview.serve import start

    running = start(tree)
    yield running
    running.stop()


@pytest.fixture
def page(new_page):
    return new_page(viewport={"width": 1400, "height": 1000})


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def open_issue(page, server, key: str = "2022/2022-03"):
    page.goto(server.url)
    page.get_by_role("link", name="Nyhetsbrev mars 2022").click()
    page.wait_for_url(f"**/nummer/{key}/")
    return page


def test_index_lists_every_issue_and_opens_one(page, server):
    page.goto(server.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Alla nummer")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("Nyhetsbrev oktober 2022")
    expect(rows.nth(1)).to_contain_text("2 varningar")
    open_issue(page, server)
    for frame in ("#ram-375", "#ram-600"):
        body = page.frame_locator(frame).locator("body")
        expect(body).to_contain_text("Handlingsplanen för 2022 är klar")
    expect(page.locator("#text")).to_contain_text("HANDLINGSPLANEN FÖR 2022 ÄR KLAR")
    expect(page.locator("#fynd")).to_contain_text('osäker HTML "<script" togs bort')
    assert page.locator("#ram-375").get_attribute("width") == "375"
    assert page.locator("#ram-600").get_attribute("width") == "600"


def test_an_edited_item_appears_within_two_seconds_without_reload(page, server, tree):
    open_issue(page, server)
    expect(page.frame_locator("#ram-600").locator("body")).to_contain_text("Materialet finns")
    page.evaluate("window.notReloaded = true")
    item = tree / "newsletters/2022/2022-03/svartsjuka.md"
    item.write_text(
        item.read_text("utf-8").replace(
            "Materialet finns att beställa.", "Nu finns affischerna på arabiska."
        ),
        "utf-8",
    )
    for frame in ("#ram-375", "#ram-600"):
        expect(page.frame_locator(frame).locator("body")).to_contain_text(
            "Nu finns affischerna på arabiska.", timeout=2000
        )
    expect(page.locator("#text")).to_contain_text("Nu finns affischerna på arabiska.", timeout=2000)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=ARTIFACTS / "preview-issue.png", full_page=True)


def test_a_broken_file_shows_its_error_and_the_server_keeps_going(page, server, tree):
    open_issue(page, server)
    item = tree / "newsletters/2022/2022-03/svartsjuka.md"
    good = item.read_text("utf-8")
    item.write_text(good.replace("date: 2022-03-12", "date: [2022-03-12"), "utf-8")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Numret kan inte byggas: 1 fel.", timeout=2000)
    expect(page.locator("#fynd")).to_contain_text(
        "newsletters/2022/2022-03/svartsjuka.md:4: ogiltig YAML"
    )
    expect(page.locator("#vyer")).to_have_class(re.compile(r"\bstale\b"))
    expect(page.frame_locator("#ram-600").locator("body")).to_contain_text("Materialet finns")
    page.screenshot(path=ARTIFACTS / "preview-error.png", full_page=True)
    item.write_text(good.replace("Materialet", "Det rättade materialet"), "utf-8")
    expect(alert).to_have_count(0, timeout=2000)
    expect(page.frame_locator("#ram-600").locator("body")).to_contain_text(
        "Det rättade materialet", timeout=2000
    )
    page.goto(server.url)
    expect(page.locator("tbody tr")).to_have_count(3)


def test_the_index_follows_a_new_issue(page, server, run, tree):
    page.goto(server.url)
    expect(page.locator("tbody tr")).to_have_count(3)
    assert run("new", "issue", "2022-12", "--root", tree).exit_code == 0
    expect(page.locator("tbody tr")).to_have_count(4, timeout=2000)
    expect(page.locator("tbody tr").first).to_contain_text("Nyhetsbrev december 2022")
    # No items yet, and the intro `new` wrote is still a placeholder.
    expect(page.locator("tbody tr").first).to_contain_text("2 varningar")


def test_the_email_fits_a_phone_inside_the_preview_and_alone(browser, page, server):
    open_issue(page, server)
    frame = page.frame_locator("#ram-375").locator("html")
    expect(frame).to_contain_text("Avsluta prenumeration")
    assert frame.evaluate("e => e.scrollWidth") <= 375
    phone = browser.new_context(
        viewport={"width": 375, "height": 800}, is_mobile=True, device_scale_factor=2
    )
    alone = phone.new_page()
    alone.goto(server.url + "utskick/2022/2022-03/email.html")
    assert alone.evaluate("document.documentElement.scrollWidth") <= 375
    alone.screenshot(path=ARTIFACTS / "email-375.png", full_page=True)
    phone.close()


def test_screenshots_at_600_and_in_dark_mode(browser, server):
    ARTIFACTS.mkdir(exist_ok=True)
    desktop = browser.new_context(viewport={"width": 600, "height": 900})
    page = desktop.new_page()
    page.goto(server.url + "utskick/2022/2022-03/email.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 600
    page.screenshot(path=ARTIFACTS / "email-600.png", full_page=True)
    desktop.close()
    dark = browser.new_context(
        viewport={"width": 375, "height": 800}, is_mobile=True, color_scheme="dark"
    )
    page = dark.new_page()
    page.goto(server.url + "utskick/2022/2022-03/email.html")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is True
    page.screenshot(path=ARTIFACTS / "email-375-dark.png", full_page=True)
    dark.close()
    for name in ("email-600.png", "email-375-dark.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


@pytest.fixture
def sample(tmp_path) -> Path:
    """Return a copy of the repository's sample year (real campaigns and colours)."""
    target = tmp_path / "exempel"
    target.mkdir()
    shutil.copy(REPO / "newsletter.toml", target)
    for folder in ("campaigns", "newsletters"):
        shutil.copytree(REPO / folder, target / folder)
    return target


@pytest.mark.parametrize("content", ["basic", "sample"])
@pytest.mark.parametrize("output", ["email.html", "index.html"])
def test_no_wcag_22_aa_violations_in_email_and_web_version(browser, content, output, request):
    from axe_playwright_python.sync_playwright import Axe

    from nyhetsbrev.preview.serve import start

    root = (
        request.getfixturevalue("tree") if content == "basic" else request.getfixturevalue("sample")
    )
    running = start(root)
    context = browser.new_context(viewport={"width": 600, "height": 900})
    try:
        page = context.new_page()
        keys = running.preview.keys()
        assert keys, "no issues to check"
        for key in keys:
            page.goto(f"{running.url}utskick/{key}/{output}")
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
            assert results.violations_count == 0, f"{key}/{output}:\n{results.generate_report()}"
    finally:
        context.close()
        running.stop()


def test_the_page_reports_a_missing_page_in_swedish(page, server):
    response = page.goto(server.url + "nummer/2030/2030-01/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Sidan finns inte")
