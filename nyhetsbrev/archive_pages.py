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

from . import urls
from .errors import WARNING, Problem
from .load import CONFIG
from .models import Content, Site
from .publish import Output

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
SCRIPT = Path(__file__).parent / "templates" / "web" / urls.SCRIPT
MAX_AGE = dt.timedelta(days=365)


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


def today() -> dt.date:
    """Return today's date in Stockholm (tests replace this to stay true in later years)."""
    from .models import STOCKHOLM

    return dt.datetime.now(STOCKHOLM).date()


def statement_problems(site: Site, text: str | None) -> list[Problem]:
    """Return warnings about the accessibility statement and the privacy notice."""
    lines = (text or "").split("\n")

    def line_of(section: str) -> int:
        return next((n for n, raw in enumerate(lines, 1) if raw.strip() == f"[{section}]"), 1)

    problems = []
    a = site.accessibility
    if a is None:
        problems.append(
            Problem(
                CONFIG,
                1,
                "[accessibility] saknas: webbplatsen ska ha en tillgänglighetsredogörelse "
                "(lag 2018:1937). Lägg till avsnittet med status, assessed, method och feedback",
                severity=WARNING,
                rule="accessibility",
            )
        )
    elif a.assessed is not None and today() - a.assessed > MAX_AGE:
        problems.append(
            Problem(
                CONFIG,
                _key_line(lines, "accessibility", "assessed") or line_of("accessibility"),
                f"[accessibility] assessed {a.assessed.isoformat()} är mer än ett år gammal: "
                "granska webbplatsens tillgänglighet igen och uppdatera datumet",
                severity=WARNING,
                rule="accessibility",
            )
        )
    if site.privacy is None:
        problems.append(
            Problem(
                CONFIG,
                1,
                "[privacy] saknas: integritetssidan saknar rättslig grund och lagringstid. "
                "Lägg till avsnittet med controller, contact, legal_basis och retention",
                severity=WARNING,
                rule="privacy",
            )
        )
    return problems


def _key_line(lines: list[str], section: str, key: str) -> int | None:
    current = ""
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[]").strip()
        elif current == section and line.split("=", 1)[0].strip() == key:
            return number
    return None
