"""Content -> RSS 2.0 and Atom (feedgen) and JSON Feed 1.1 (json), for the site and each campaign.

Pure: values in, (path, bytes) out. The rules and feedgen's pitfalls are in
docs/ARCHITECTURE.md; each pitfall is avoided where the generator is filled in, with a comment
saying which.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from nyhetsbrev import urls
from nyhetsbrev.build.render import actions, when
from nyhetsbrev.content.models import STOCKHOLM, Campaign, Content, Item, Site
from nyhetsbrev.urls import campaign_url, permalink

PUBLISHED_AT = dt.time(8)  # an item's `date` is a day; feeds show it at 08:00 Swedish time
EPOCH = dt.datetime(2000, 1, 1, tzinfo=STOCKHOLM)  # `updated` of a feed with no items at all
TAG_DATE = "2022"  # date part of tag: GUIDs (RFC 4151); changing it would change those GUIDs
GENERATOR = "Nyhetsbrev"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}
# Characters XML 1.0 forbids (lxml refuses them) and the C1 controls it discourages.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

Output = tuple[str, bytes]


@dataclass(frozen=True)
class Feed:
    """One feed: its items (newest first) and where it and its page live."""

    folder: str  # relative to the output root: "" or "campaigns/<slug>/"
    title: str
    description: str
    page_url: str  # the HTML page the feed belongs to
    items: tuple[Item, ...]
    updated: dt.datetime

    def url(self, site: Site, name: str) -> str:
        """Return the public URL of this feed's file `name` (feed.xml, atom.xml, feed.json)."""
        return urls.absolute(site, self.folder + name)


def feed_files(content: Content) -> list[Output]:
    """Return every feed file: feed.xml, atom.xml and feed.json, and two per campaign.

    The items are put in order once, and each item's HTML is made once for all the feeds
    that show it.
    """
    files: list[Output] = []
    ordered = newest_first(content.items)
    main = site_feed(content, ordered)
    htmls: dict[int, str] = {}
    files += [
        (urls.RSS, rss(content, main, htmls)),
        (urls.ATOM, atom(content, main, htmls)),
        (urls.JSON_FEED, json_feed(content, main, htmls)),
    ]
    for campaign in sorted(content.campaigns.values(), key=lambda c: c.slug):
        feed = campaign_feed(content, campaign, ordered)
        files += [
            (feed.folder + urls.RSS, rss(content, feed, htmls)),
            (feed.folder + urls.ATOM, atom(content, feed, htmls)),
        ]
    return files


def site_feed(content: Content, ordered: tuple[Item, ...] | None = None) -> Feed:
    """Return the feed of all items (ordered: newest_first(content.items), if known)."""
    site = content.site
    items = newest_first(content.items) if ordered is None else ordered
    return Feed(
        "",
        clean(site.title),
        clean(f"Nyheter och evenemang från {site.organisation}"),
        urls.absolute(site),
        items[: site.feed_items],
        _updated(items, items),
    )


def campaign_feed(
    content: Content, campaign: Campaign, ordered: tuple[Item, ...] | None = None
) -> Feed:
    """Return the feed of one campaign's items (ordered: newest_first(content.items))."""
    site = content.site
    everything = newest_first(content.items) if ordered is None else ordered
    # The order is total (no two items share date, year, issue and slug), so keeping the
    # campaign's items of the ordered whole is the same as ordering them.
    items = tuple(i for i in everything if campaign.slug in i.campaigns)
    description = campaign.body.first_paragraph or f"{campaign.name}: texter från {site.title}"
    return Feed(
        urls.campaign_feeds(campaign.slug),
        clean(f"{campaign.name} – {site.title}"),
        clean(description),
        campaign_url(site, campaign),
        items[: site.feed_items],
        _updated(items, everything),
    )


def _updated(items: tuple[Item, ...], everything: tuple[Item, ...]) -> dt.datetime:
    # A campaign without items yet takes the newest item of the site, so no clock is read.
    newest = items or everything
    return published(newest[0]) if newest else EPOCH


def newest_first(items: Iterable[Item]) -> tuple[Item, ...]:
    """Return items newest first, in an order that depends only on the content."""
    return tuple(sorted(items, key=lambda i: (i.date, i.year, i.issue_id, i.slug), reverse=True))


def published(item: Item) -> dt.datetime:
    """Return an item's publication time: its date at 08:00 in Stockholm."""
    return dt.datetime.combine(item.date, PUBLISHED_AT, tzinfo=STOCKHOLM)


def guid(site: Site, item: Item) -> tuple[str, bool]:
    """Return the item's GUID and whether it is its permalink.

    From `id`, so moving or renaming the file keeps it: a UUID gives `urn:uuid:…`, any other
    id a tag: URI. An item without an `id` has only its permalink.
    """
    if "id" not in item.lines:
        return permalink(site, item), True
    try:
        return uuid.UUID(item.id).urn, False
    except ValueError:
        return f"tag:{site.host},{TAG_DATE}:{quote(item.id, safe='/:@!$&()*+,;=-._~')}", False


def clean(text: str) -> str:
    """Return text without the control characters that XML cannot carry."""
    return NOT_XML.sub("", text)


def content_html(content: Content, item: Item) -> str:
    """Return an item's full HTML for feeds: image, time and place, body and its links."""
    site = content.site
    parts = []
    if item.image:
        parts.append(f'<p><img src="{escape(item.image)}" alt="{escape(item.image_alt)}"></p>')
    if item.is_event:
        where = f"<br><strong>Var:</strong> {escape(item.location)}" if item.location else ""
        parts.append(f"<p><strong>När:</strong> {escape(when(item))}{where}</p>")
    parts.append(item.body.html)
    links = [f'<a href="{escape(a.url)}">{escape(a.label)}</a>' for a in actions(site, item)]
    if links:
        parts.append(f"<p>{' · '.join(links)}</p>")
    return clean("\n".join(parts))


def enclosure(item: Item) -> tuple[str, str, str] | None:
    """Return (url, length, type) of an item's image, or None when it is no known image type.

    A local image has its file size; an image on another site has length 0, which the RSS
    Advisory Board's profile prescribes when the size cannot be known.
    """
    if not item.image:
        return None
    path = item.image.split("?", 1)[0].split("#", 1)[0]
    suffix = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    kind = IMAGE_TYPES.get(suffix)
    if kind is None:
        return None
    length = item.image_asset.size if item.image_asset else 0
    return item.image, str(length), kind


def _generator(content: Content, feed: Feed, self_url: str, is_rss: bool) -> Any:
    from feedgen.feed import FeedGenerator

    site = content.site
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(feed.title)
    # Readers treat an RSS <description> as HTML (the channel's like the items'), so it is
    # escaped once more; Atom's <subtitle> is a text construct and stays as it is.
    fg.subtitle(escape(feed.description, quote=False) if is_rss else feed.description)
    fg.author(name=clean(site.organisation))
    fg.language(site.language)
    fg.generator(GENERATOR)  # without feedgen's version, so an upgrade does not change bytes
    fg.docs("https://www.rssboard.org/rss-specification")
    # feedgen makes RSS <channel><link> the last link added: self first, the page last.
    fg.link(href=self_url, rel="self")
    fg.link(href=feed.page_url, rel="alternate", type="text/html")
    fg.updated(feed.updated)  # feedgen would use the clock
    return fg


def _html(content: Content, item: Item, htmls: dict[int, str] | None) -> str:
    """Return content_html(content, item), made once per item when htmls is given."""
    if htmls is None:
        return content_html(content, item)
    found = htmls.get(id(item))
    if found is None:
        found = htmls[id(item)] = content_html(content, item)
    return found


def _entry(
    fg: Any, content: Content, item: Item, is_rss: bool, htmls: dict[int, str] | None = None
) -> None:
    site = content.site
    fe = fg.add_entry(order="append")  # feedgen prepends by default
    value, is_permalink = guid(site, item)
    fe.guid(value, permalink=is_permalink)  # a URL GUID needs permalink=True; also the Atom id
    fe.title(clean(item.title))
    fe.link(href=permalink(site, item))
    when_published = published(item)  # aware (feedgen refuses naive), Europe/Stockholm
    fe.published(when_published)
    fe.updated(when_published)  # not the clock
    # summary + content, never description() (it overwrites Atom's content); type "html",
    # since feedgen's CDATA type is invalid Atom.
    # Readers treat an RSS description as HTML, so the plain-text summary is escaped once
    # more: a summary that mentions "<script>" must reach them as text, never as markup.
    fe.summary(escape(clean(item.summary), quote=False), type="html")
    fe.content(_html(content, item, htmls), type="html")
    for slug in item.campaigns:
        category = {"term": slug, "scheme": urls.folder_url(site, urls.CAMPAIGNS)}
        if not is_rss:  # Atom: readers show the label, so the campaign's name;
            category["label"] = clean(
                content.campaigns[slug].name
            )  # not in RSS, where it replaces the term
        fe.category(**category)
    image = enclosure(item) if is_rss else None
    if image:  # only RSS: in Atom feedgen makes it a second link
        url, length, kind = image
        fe.enclosure(url, length, kind)


def rss(content: Content, feed: Feed, htmls: dict[int, str] | None = None) -> bytes:
    """Return the feed as RSS 2.0."""
    fg = _generator(content, feed, feed.url(content.site, urls.RSS), is_rss=True)
    fg.pubDate(feed.updated)
    for item in feed.items:
        _entry(fg, content, item, True, htmls)
    return bytes(fg.rss_str(pretty=True))


def atom(content: Content, feed: Feed, htmls: dict[int, str] | None = None) -> bytes:
    """Return the feed as Atom (RFC 4287)."""
    fg = _generator(content, feed, feed.url(content.site, urls.ATOM), is_rss=False)
    for item in feed.items:
        _entry(fg, content, item, False, htmls)
    return bytes(fg.atom_str(pretty=True))


def json_feed(content: Content, feed: Feed, htmls: dict[int, str] | None = None) -> bytes:
    """Return the feed as JSON Feed 1.1, from the same items as the XML feeds."""
    site = content.site
    data = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": feed.title,
        "home_page_url": feed.page_url,
        "feed_url": feed.url(site, urls.JSON_FEED),
        "description": feed.description,
        "language": site.language,
        "authors": [{"name": clean(site.organisation), "url": urls.absolute(site)}],
        "items": [_json_item(content, item, htmls) for item in feed.items],
    }
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


def _json_item(content: Content, item: Item, htmls: dict[int, str] | None) -> dict[str, Any]:
    site = content.site
    entry: dict[str, Any] = {
        "id": guid(site, item)[0],
        "url": permalink(site, item),
        "title": clean(item.title),
        "content_html": _html(content, item, htmls),
        "summary": clean(item.summary),
        "date_published": published(item).isoformat(),
        "tags": list(item.campaigns),
    }
    if item.link:
        entry["external_url"] = item.link
    if item.image:
        entry["image"] = item.image
    return entry
