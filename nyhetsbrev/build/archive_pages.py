"""The authority's pages beside the archive: accessibility statement, safe browsing, privacy.

Also the sitemap, robots.txt, the one script and the organisation's logo. Pure: content
in, output files out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import jinja2

from nyhetsbrev import urls
from nyhetsbrev.build.publish import Output
from nyhetsbrev.content.models import Content

# (output folder, template, heading, description)
PAGES = (
    (
        urls.STATEMENT,
        "web/statement.html",
        "Tillgänglighet",
        "Tillgänglighetsredogörelse: hur webbplatsen uppfyller lagen om tillgänglighet "
        "till digital offentlig service och hur du rapporterar brister.",
    ),
    (
        urls.SAFETY,
        "web/safety.html",
        "Surfa tryggt",
        "Så skyddar du dig om någon kontrollerar din telefon eller dator: lämna sidan "
        "snabbt, privat surfning, rensa historiken.",
    ),
    (
        urls.PRIVACY,
        "web/privacy.html",
        "Personuppgifter och integritet",
        "Så behandlas personuppgifter i nyhetsbrevet och på webbplatsen.",
    ),
)
SCRIPT = Path(__file__).parents[1] / "templates" / "web" / urls.SCRIPT


def outputs(env: jinja2.Environment, content: Content) -> Iterator[Output]:
    """Yield the three pages, the sitemap, robots.txt, the script and the logo."""
    site = content.site
    for folder, template, heading, description in PAGES:
        page = env.get_template(template).render(
            site=site,
            content=content,
            links=urls.links(site, folder),
            depth=urls.depth(folder),  # depth and page_path: for templates written before links
            page_path=f"{folder}/",
            heading=heading,
            description=description,
        )
        yield urls.page(folder), page.encode()
    yield urls.SITEMAP, sitemap(content)
    robots = f"User-agent: *\nAllow: /\nSitemap: {urls.absolute(site, urls.SITEMAP)}\n"
    yield urls.ROBOTS, robots.encode()
    yield urls.SCRIPT, SCRIPT
    if site.logo:
        yield site.logo, site.root / site.logo


def page_paths(content: Content) -> list[tuple[str, dt.date | None]]:
    """Return every HTML page's path (relative, ending in '/') and its date where it has one."""
    paths: list[tuple[str, dt.date | None]] = [("", None)]
    paths += [(f"{i.folder}/", i.date) for i in sorted(content.issues, key=lambda i: i.folder)]
    paths += [(f"{urls.campaign_folder(slug)}/", None) for slug in sorted(content.campaigns)]
    paths += [(f"{folder}/", None) for folder, *_ in PAGES]
    return paths


def sitemap(content: Content) -> bytes:
    """Return sitemap.xml (sitemaps.org 0.9) listing every page with its absolute URL."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    for path, day in page_paths(content):
        lastmod = f"<lastmod>{day.isoformat()}</lastmod>" if day else ""
        lines.append(
            f"  <url><loc>{escape(urls.absolute(content.site, path))}</loc>{lastmod}</url>"
        )
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode()
