"""Every output path and public URL: the layout of the published site, in one place.

A path here is relative to the output root (POSIX, no leading "/"); a URL is absolute, made
from `site.base_url`. Templates get these through `Links` (in their context as `links`), so
changing where something is published is one edit in this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from nyhetsbrev.content.models import Campaign, Issue, Item, Site

# Files at the output root
ARCHIVE = "index.html"  # also the page of every folder below
STYLESHEET = "style.css"
SCRIPT = "site.js"
RSS = "feed.xml"
ATOM = "atom.xml"
JSON_FEED = "feed.json"
CALENDAR = "events.ics"
SITEMAP = "sitemap.xml"
ROBOTS = "robots.txt"
SEARCH = "pagefind"  # the search index's folder

# An issue's files, in its folder
WEB = ARCHIVE
EMAIL_HTML = "email.html"
EMAIL_TEXT = "email.txt"
EMAIL_MESSAGE = "email.eml"
EMAIL_MJML = "email.mjml"  # only with --emit-mjml

CAMPAIGNS = "campaigns"  # campaign pages, their feeds and their files

# The authority's pages beside the archive (archive_pages.PAGES gives each its text)
STATEMENT = "tillganglighet"
SAFETY = "surfa-tryggt"
PRIVACY = "integritet"

# The subscription service's paths, relative to `[subscriptions] url`
CONFIRM = "bekrafta"
UNSUBSCRIBE = "avsluta"
PRIVACY_NOTICE = "integritet"

ANCHOR_SAFE = "-._~!$&'()*+,;=:@/"


def issue_folder(year: int | str, issue_id: str) -> str:
    """Return an issue's output folder: "<year>/<issue-id>"."""
    return f"{year}/{issue_id}"


def item_folder(item: Item) -> str:
    """Return the output folder of the issue an item belongs to (its files go there too)."""
    return issue_folder(item.year, item.issue_id)


def campaign_folder(slug: str) -> str:
    """Return a campaign's output folder: "campaigns/<slug>"."""
    return f"{CAMPAIGNS}/{slug}"


def page(folder: str) -> str:
    """Return the path of a folder's page ("" is the archive home page)."""
    return f"{folder}/{ARCHIVE}" if folder else ARCHIVE


def event_path(item: Item) -> str:
    """Return the output path of an event's own calendar file."""
    return f"{item_folder(item)}/{item.slug}.ics"


def depth(folder: str) -> str:
    """Return the relative way from a folder's page up to the output root ("../" per level)."""
    return "../" * len([part for part in folder.split("/") if part])


def anchor(slug: str) -> str:
    """Return a slug as a URL fragment: a file name may hold "#", "?" or spaces."""
    return quote(slug, safe=ANCHOR_SAFE)


def absolute(site: Site, path: str = "") -> str:
    """Return the public URL of an output path ("" is the site's home, ending in "/")."""
    return f"{site.base_url}/{path}"


def folder_url(site: Site, folder: str) -> str:
    """Return the public URL of an output folder, without a trailing "/" (files go below it)."""
    return f"{site.base_url}/{folder}" if folder else site.base_url


def web_url(site: Site, issue: Issue) -> str:
    """Return the absolute URL of the issue's web version."""
    return absolute(site, f"{issue_folder(issue.year, issue.id)}/")


def ics_url(site: Site, item: Item) -> str:
    """Return the absolute URL of an event's own calendar file."""
    return absolute(site, quote(event_path(item)))


def permalink(site: Site, item: Item) -> str:
    """Return the item's permanent URL: its anchor in the issue's web version."""
    return absolute(site, f"{item_folder(item)}/#{anchor(item.slug)}")


def campaign_url(site: Site, campaign: Campaign) -> str:
    """Return the absolute URL of a campaign's page."""
    return absolute(site, f"{campaign_folder(campaign.slug)}/")


def campaign_feeds(slug: str) -> str:
    """Return the folder of a campaign's feeds, relative to the output root, ending in "/"."""
    return f"{campaign_folder(slug)}/"


def service_url(base: str, path: str, token: str = "") -> str:
    """Return a subscription service URL: base is `[subscriptions] url`, path one above."""
    return f"{base}/{path}/{token}" if token else f"{base}/{path}"


@dataclass(frozen=True)
class Links:
    """The site's layout as a template sees it: links from one page, and absolute URLs.

    `folder` is the page's output folder ("" for the archive home page).
    """

    base_url: str
    folder: str = ""

    @property
    def up(self) -> str:
        """Return the relative way from this page to the output root ("" at the root)."""
        return depth(self.folder)

    @property
    def home(self) -> str:
        """Return a relative link to the archive home page ("./" on that page itself)."""
        return self.up or "./"

    @property
    def here(self) -> str:
        """Return this page's absolute URL (its canonical address)."""
        return self.url(f"{self.folder}/" if self.folder else "")

    @property
    def stylesheet(self) -> str:
        return self.to(STYLESHEET)

    @property
    def script(self) -> str:
        return self.to(SCRIPT)

    @property
    def statement(self) -> str:
        return self.to(f"{STATEMENT}/")

    @property
    def safety(self) -> str:
        return self.to(f"{SAFETY}/")

    @property
    def privacy(self) -> str:
        return self.to(f"{PRIVACY}/")

    def to(self, path: str) -> str:
        """Return a relative link from this page to an output path."""
        return f"{self.up}{path}"

    def url(self, path: str = "") -> str:
        """Return the absolute URL of an output path."""
        return f"{self.base_url}/{path}"

    def campaign(self, slug: str) -> str:
        """Return a relative link to a campaign's page."""
        return self.to(f"{campaign_folder(slug)}/")

    def issue(self, issue: Issue) -> str:
        """Return a relative link to an issue's web version."""
        return self.to(f"{issue_folder(issue.year, issue.id)}/")

    def item(self, item: Item) -> str:
        """Return a relative link to an item in its issue's web version."""
        return self.to(f"{item_folder(item)}/#{anchor(item.slug)}")

    def feeds(self, folder: str = "") -> dict[str, str]:
        """Return the absolute URLs of a folder's feeds: base (the folder), rss, atom, json,
        calendar."""
        base = self.url(f"{folder}/" if folder else "")
        return {
            "base": base,
            "rss": base + RSS,
            "atom": base + ATOM,
            "json": base + JSON_FEED,
            "calendar": base + CALENDAR,
        }


def links(site: Site, folder: str = "") -> Links:
    """Return the links of the page in folder (relative to the output root)."""
    return Links(site.base_url, folder)
