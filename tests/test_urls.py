"""The site's layout has one home (nyhetsbrev/urls.py): every other module and template asks it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nyhetsbrev import urls
from nyhetsbrev.build.pipeline import load_content

from .conftest import EXPECTED, FIXTURES

PACKAGE = Path(urls.__file__).parent
# Output file names and folders that only urls.py may spell ("campaigns/" in a quoted path
# of the content tree is fine: that is the tree's layout, not the site's)
NAMES = re.compile(
    r"""["'](?:index\.html|feed\.xml|atom\.xml|feed\.json|events\.ics|email\.(?:html|txt|eml|mjml)"""
    r"""|sitemap\.xml|robots\.txt|site\.js|style\.css|\.\./\.\./)["']|f["']campaigns/"""
)
TEMPLATE_NAMES = ("_html(", "get_template(")  # a template's own name, not an output
TEMPLATE_LAYOUT = re.compile(
    r"feed\.xml|atom\.xml|feed\.json|events\.ics|campaigns/|\.\./|depth"
    r"|tillganglighet/|surfa-tryggt/|integritet/"
)


def test_no_module_but_urls_spells_an_output_name():
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "urls.py"
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if NAMES.search(line)
        and not line.lstrip().startswith("#")
        and not any(call in line for call in TEMPLATE_NAMES)
    ]
    assert found == []


def test_no_archive_template_spells_the_layout():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted((PACKAGE / "templates" / "web").glob("*.html"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if TEMPLATE_LAYOUT.search(line)
    ]
    assert found == []


@pytest.fixture(scope="module")
def content():
    return load_content(FIXTURES / "basic").content.published()


def local(url: str, base: str) -> Path:
    """Return the golden file an absolute URL points at (a folder's page for "/")."""
    path = url.removeprefix(base + "/").split("#", 1)[0]
    return EXPECTED / "basic" / (path + urls.ARCHIVE if path.endswith("/") or not path else path)


def test_every_url_points_at_a_built_file(content):
    site = content.site
    found = [urls.web_url(site, issue) for issue in content.issues]
    found += [urls.permalink(site, item) for item in content.items]
    found += [urls.ics_url(site, item) for item in content.items if item.is_event]
    found += [urls.campaign_url(site, c) for c in content.campaigns.values()]
    found += list(urls.links(site).feeds().values())
    found += [
        urls.links(site).url(urls.page(folder))
        for folder in (urls.STATEMENT, urls.SAFETY, urls.PRIVACY)
    ]
    missing = [url for url in found if not local(url, site.base_url).is_file()]
    assert len(found) > 10 and missing == []


def test_relative_links_lead_back_to_the_root():
    links = urls.Links("https://example.se/nyhetsbrev", urls.issue_folder(2022, "2022-03"))
    assert links.up == "../../"
    assert links.stylesheet == "../../style.css"
    assert links.campaign("svartsjuka") == "../../campaigns/svartsjuka/"
    assert links.here == "https://example.se/nyhetsbrev/2022/2022-03/"
    root = urls.Links("https://example.se/nyhetsbrev")
    assert (root.up, root.home, root.here) == ("", "./", "https://example.se/nyhetsbrev/")
    assert urls.depth(urls.STATEMENT) == "../"
