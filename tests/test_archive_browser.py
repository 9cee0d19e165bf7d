"""The built archive in Chromium, served by a plain static server on 127.0.0.1.

axe-core on every page, the quick exit with JavaScript off and on, Pagefind's search from
the static files alone, and no request to any origin but the site's own. Screenshots of
the archive page go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parent / "artifacts"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
EXIT_URL = "https://www.google.se/"
BASE_URL = "https://nyhetsbrev.example.se/"  # the fixture's base_url: the site's own origin

pytestmark = pytest.mark.browser


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def site(built_basic):
    """Serve the basic tree's session build; yield (origin URL, output folder)."""
    out = built_basic
    handler = functools.partial(_Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", out
    server.shutdown()
    server.server_close()


@contextmanager
def _page(browser, site, **options):
    """Yield a page of a browser context where nothing goes out; close the context after.

    The exit site answers with a blank page; the site's absolute URLs (base_url, where it
    is published) are answered from the local copy.
    """
    origin, out = site
    context = browser.new_context(**options)

    def route(r):
        url = r.request.url
        if url.startswith(EXIT_URL):
            r.fulfill(status=200, content_type="text/html", body="<title>Neutral</title>")
        elif url.startswith(BASE_URL):
            r.fulfill(path=str(out / url.removeprefix(BASE_URL).split("#")[0]))
        elif url.startswith(origin):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    try:
        yield context.new_page()
    finally:
        context.close()


def _pages(out: Path) -> list[str]:
    """Return the path of every web page build wrote, relative to the output root."""
    return sorted(
        p.relative_to(out).as_posix().removesuffix("index.html")
        for p in out.rglob("index.html")
        if "pagefind" not in p.parts
    )


def test_build_writes_the_authoritys_pages(site):
    pages = _pages(site[1])
    for page in ("", "tillganglighet/", "surfa-tryggt/", "integritet/", "2022/2022-03/"):
        assert page in pages
    assert (site[1] / "pagefind" / "2022" / "pagefind.js").is_file()


def test_every_page_passes_axe_and_asks_only_its_own_origin(site, browser):
    from axe_playwright_python.sync_playwright import Axe

    origin, out = site
    requests: list[str] = []
    with _page(browser, site, viewport={"width": 1280, "height": 900}) as page:
        page.on("request", lambda r: requests.append(r.url))
        failures = []
        for path in _pages(out):
            page.goto(origin + path)
            results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
            if results.violations_count:
                failures.append(f"{path}:\n{results.generate_report()}")
        # The search's index and results are pages too.
        page.goto(origin)
        page.get_by_label("Sök bland texterna").fill("byggnader")
        page.get_by_role("button", name="Sök").click()
        page.locator("[data-search-results] li").first.wait_for()
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
        if results.violations_count:
            failures.append(f"sökresultat:\n{results.generate_report()}")
    assert not failures, "\n".join(failures)
    assert len(requests) > len(_pages(out))
    assert any("/pagefind/" in url for url in requests)
    assert [url for url in requests if not url.startswith((origin, BASE_URL))] == []


def test_quick_exit_without_javascript_is_a_link_to_the_exit_url(site, browser):
    origin, out = site
    with _page(browser, site, java_script_enabled=False) as page:
        for path in ("", "2022/2022-03/", "tillganglighet/"):
            page.goto(origin + path)
            exit_link = page.get_by_role("link", name="Lämna sidan snabbt")
            assert exit_link.get_attribute("data-quick-exit") is not None
            assert not page.locator("[data-search]").is_visible()  # no search without JS
        exit_link.click()
        page.wait_for_url(EXIT_URL)
        assert page.url == EXIT_URL


def test_quick_exit_with_javascript_replaces_the_history_entry(site, browser):
    origin, _ = site
    with _page(browser, site) as page:
        page.goto(origin + "robots.txt")  # where the reader was before the archive
        page.goto(origin + "2022/2022-03/")
        page.get_by_role("link", name="Lämna sidan snabbt").click()
        page.wait_for_url(EXIT_URL)
        page.go_back()
        assert page.url == origin + "robots.txt"  # not the issue: its entry was replaced


def test_three_presses_of_escape_leave_the_page(site, browser):
    origin, _ = site
    with _page(browser, site) as page:
        page.goto(origin + "surfa-tryggt/")
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")
        assert page.url == origin + "surfa-tryggt/"  # two presses are not enough
        page.keyboard.press("Escape")
        page.wait_for_url(EXIT_URL)


def test_search_finds_a_word_in_one_items_body_and_not_a_word_in_none(site, browser):
    origin, _ = site
    with _page(browser, site) as page:
        page.goto(origin)
        field = page.get_by_label("Sök bland texterna")
        assert field.is_visible()
        field.fill("byggnader")  # only in orange-week.md's body
        page.get_by_role("button", name="Sök").click()
        first = page.locator("[data-search-results] li").first
        first.wait_for()
        links = page.locator("[data-search-results] a")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs and all("2021/2021-11/" in h for h in hrefs), hrefs
        assert "Orange Week" in first.inner_text()
        field.fill("solrosfält")
        page.get_by_role("button", name="Sök").click()
        status = page.locator("[data-search-status]")
        status.filter(has_text="Inga träffar").wait_for()
        assert page.locator("[data-search-results] li").count() == 0


def _search(page, field, query: str) -> list[str]:
    """Search for query on the page; return the results' links."""
    field.fill(query)
    page.get_by_role("button", name="Sök").click()
    page.locator("[data-search-status]").filter(has_text="träff").wait_for()
    links = page.locator("[data-search-results] a")
    return [links.nth(i).get_attribute("href") or "" for i in range(links.count())]


def test_one_search_covers_every_years_bundle_and_leads_to_the_pages(site, browser):
    origin, out = site
    # One bundle per year, newest first: site.js loads 2022 and merges 2021 into it.
    assert json.loads((out / "pagefind" / "bundles.json").read_text("utf-8")) == ["2022", "2021"]
    assert (out / "pagefind" / "2021" / "pagefind-entry.json").is_file()
    assert not (out / "pagefind" / "2021" / "pagefind.js").exists()  # only the newest's runs
    with _page(browser, site) as page:
        page.goto(origin)
        field = page.get_by_label("Sök bland texterna")
        hrefs = _search(page, field, "november")  # in both years' issues
        assert any(h.startswith("/2021/2021-11/") for h in hrefs), hrefs
        assert any(h.startswith("/2022/") for h in hrefs), hrefs
        assert _search(page, field, "byggnader") == ["/2021/2021-11/#orange-week-rubrik"]
        hrefs = _search(page, field, "förebyggandekonferens")
        assert hrefs and all(h.startswith("/2022/2022-10/") for h in hrefs), hrefs
        for href, word in (
            ("/2021/2021-11/#orange-week-rubrik", "byggnader"),
            (hrefs[0], "konferens"),
        ):
            page.goto(origin + href.lstrip("/"))
            assert word in page.locator("main").inner_text().lower()


@pytest.mark.parametrize("width", [375, 1280])
def test_quick_exit_is_in_the_same_place_on_every_page(site, browser, width):
    origin, out = site
    with _page(
        browser, site, viewport={"width": width, "height": 800}, is_mobile=width < 480
    ) as page:
        boxes = {}
        for path in _pages(out):
            page.goto(origin + path)
            box = page.locator("a[data-quick-exit]").bounding_box()
            assert box is not None
            boxes[path] = (round(box["x"]), round(box["y"]), round(box["width"]))
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The bar stays in view, but an item reached by its anchor is not under it.
        page.goto(origin + "2022/2022-03/#svartsjuka")
        bar = page.locator(".safety").bounding_box()
        heading = page.locator("#svartsjuka").bounding_box()
        assert bar is not None and heading is not None
        assert heading["y"] >= bar["y"] + bar["height"], (bar, heading)
        page.goto(origin)
        page.get_by_label("Sök bland texterna").fill("webbinarium")
        page.get_by_role("button", name="Sök").click()
        page.locator("[data-search-results] li").first.wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"arkiv-{width}.png"), full_page=True)
    assert len(set(boxes.values())) == 1, boxes


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory):
    """Build the basic tree with base_url under a path and serve it there: /nyhetsbrev/."""
    import shutil

    from nyhetsbrev.build import pipeline

    from .conftest import FIXTURES

    folder = tmp_path_factory.mktemp("prefix")
    tree = folder / "innehall"
    shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    config = tree / "newsletter.toml"
    text = config.read_text("utf-8")
    line = 'base_url = "https://nyhetsbrev.example.se"'
    assert line in text
    config.write_text(text.replace(line, line[:-1] + '/nyhetsbrev"'), "utf-8")
    served = folder / "webb"
    pipeline.build(tree, served / "nyhetsbrev")
    handler = functools.partial(_Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", served
    server.shutdown()
    server.server_close()


def test_search_under_a_path_finds_every_year_and_its_links_lead_to_the_pages(prefixed, browser):
    origin, served = prefixed
    with _page(browser, prefixed) as page:
        page.goto(origin + "nyhetsbrev/")
        field = page.get_by_label("Sök bland texterna")
        hrefs = _search(page, field, "november")  # in both years' issues
        assert any(h.startswith("/nyhetsbrev/2021/2021-11/") for h in hrefs), hrefs
        assert any(h.startswith("/nyhetsbrev/2022/") for h in hrefs), hrefs
        assert _search(page, field, "byggnader") == ["/nyhetsbrev/2021/2021-11/#orange-week-rubrik"]
        hrefs = _search(page, field, "förebyggandekonferens")
        assert hrefs and all(h.startswith("/nyhetsbrev/2022/2022-10/") for h in hrefs), hrefs
        page.locator("[data-search-results] a").first.click()
        page.wait_for_url(origin + hrefs[0].lstrip("/"))
        assert "konferens" in page.locator("main").inner_text().lower()
        page.goto(origin + "nyhetsbrev/2021/2021-11/#orange-week-rubrik")
        assert "byggnader" in page.locator("main").inner_text().lower()
