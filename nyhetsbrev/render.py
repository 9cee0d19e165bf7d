"""Issue -> email HTML (Jinja2 -> MJML -> MRML -> premailer), plain text, .eml, web pages.

Pure: values in, strings and bytes out. The same functions serve `build`, `serve` and
`send`, so what is previewed and sent is what is built.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import logging
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup as SafeHTML  # models.Markup is our own (html, text, assets)

from .markup import sized_images, wrap
from .models import STOCKHOLM, Campaign, Content, Issue, Item, Markup, Site
from .phones import link_phones, phones
from .timing import Timings, timed

ACCENT = "#1d4f91"
SEND_HOUR = 8  # Date: header of a built message, local time on the issue's date
DOCTYPE = "<!DOCTYPE html>"
INDENT = re.compile(r"\n[ \t]+<")
GAPS = re.compile(r">[ \t]{2,}<")
EMAIL_CONTENT_WIDTH = 552  # 600 px less 24 px padding on each side


@dataclass(frozen=True)
class RenderedIssue:
    """Every output of one issue."""

    issue: Issue
    mjml: str
    html: str
    text: str
    eml: bytes
    web: str


def environment(templates: Path | None = None) -> jinja2.Environment:
    """Return the Jinja2 environment: a content tree's templates/ first, then the defaults."""
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates)))
    loaders.append(jinja2.PackageLoader("nyhetsbrev", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "mjml", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(datum=datum, when=when, wrap=wrap, email_body=email_body)
    env.filters.update(phones=phones, phone_links=lambda s: SafeHTML(link_phones(str(s))))
    return env


def datum(value: dt.date | dt.datetime) -> str:
    """Return a Swedish date such as '14 mars 2022'."""
    from babel.dates import format_date

    day = value.date() if isinstance(value, dt.datetime) else value
    return format_date(day, "d MMMM y", locale="sv")


def when(item: Item) -> str:
    """Return an event's day and time in Swedish: 'torsdag 21 april 2022 kl. 09.00–12.00'."""
    from babel.dates import format_date

    assert item.start is not None
    text = format_date(item.start.date(), "EEEE d MMMM y", locale="sv")
    time = f"kl. {item.start:%H.%M}"
    if item.end and item.end.date() == item.start.date():
        time += f"–{item.end:%H.%M}"
    elif item.end:
        time += (
            f" till {format_date(item.end.date(), 'd MMMM y', locale='sv')} kl. {item.end:%H.%M}"
        )
    return f"{text} {time}"


def email_body(markup: Markup) -> SafeHTML:
    """Return a Markup's HTML for the email: every image with an integer width."""
    return SafeHTML(sized_images(markup.html, markup.assets, EMAIL_CONTENT_WIDTH))


def web_url(site: Site, issue: Issue) -> str:
    """Return the absolute URL of the issue's web version."""
    return f"{site.base_url}/{issue.folder}/"


def ics_url(site: Site, item: Item) -> str:
    """Return the absolute URL of an event's own calendar file."""
    return f"{site.base_url}/{item.year}/{item.issue_id}/{item.slug}.ics"


def campaign_boxes(issue: Issue) -> dict[str, tuple[str, ...]]:
    """Return, per item slug, the campaigns whose standing box follows it (once per issue)."""
    shown: set[str] = set()
    boxes: dict[str, tuple[str, ...]] = {}
    for item in issue.news + issue.events:
        new = tuple(c for c in item.campaigns if c not in shown)
        shown.update(new)
        if new:
            boxes[item.slug] = new
    return boxes


def _context(content: Content, issue: Issue, unsubscribe_url: str | None) -> dict[str, Any]:
    site = content.site

    def color_of(item: Item) -> str:
        return content.campaigns[item.campaigns[0]].color if item.campaigns else ACCENT

    return {
        "site": site,
        "issue": issue,
        "campaigns": content.campaigns,
        "boxes": campaign_boxes(issue),
        "accent": ACCENT,
        "color_of": color_of,
        "names": lambda item: ", ".join(content.campaigns[c].name for c in item.campaigns),
        "web_url": web_url(site, issue),
        "ics_url": lambda item: ics_url(site, item),
        "unsubscribe_url": unsubscribe_url or site.unsubscribe_url,
    }


def render_mjml(
    env: jinja2.Environment, content: Content, issue: Issue, unsubscribe_url: str | None = None
) -> str:
    """Return the issue's email as MJML."""
    mjml = env.get_template("email/issue.mjml").render(_context(content, issue, unsubscribe_url))
    # The templates' indentation would otherwise travel in every message.
    return GAPS.sub("> <", INDENT.sub("\n<", mjml))


def compile_mjml(mjml: str, css: str, timings: Timings | None = None) -> str:
    """Return MJML compiled to HTML by MRML, with css inlined and the doctype kept."""
    from mjml import mjml2html

    with timed(timings, "mjml"):
        # fonts={}: MRML would otherwise link Google Fonts for a font name it knows (privacy).
        html = mjml2html(mjml, disable_comments=True, fonts={})
    with timed(timings, "inlining"):
        return inline_css(html, css)


def inline_css(html: str, css: str) -> str:
    """Return html with css inlined by premailer.

    MRML's own <style> blocks (resets, media queries, Outlook fixes) stay as they are:
    inlining them would repeat the same declarations on every table cell.
    """
    from premailer import Premailer

    body = re.sub(r"^<!doctype html>", "", html, flags=re.IGNORECASE)
    body = body.replace("<style", '<style data-premailer="ignore"')
    inlined = Premailer(
        body,
        css_text=css,
        disable_validation=True,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        disable_link_rewrites=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
        cache_css_parsing=True,
        disable_basic_attributes=["width", "height"],
    ).transform(pretty_print=False)
    inlined = re.sub(r"^<!doctype[^>]*>\s*", "", inlined, flags=re.IGNORECASE)
    return f"{DOCTYPE}\n{inlined.strip()}\n"


def email_css(env: jinja2.Environment) -> str:
    """Return the CSS that is inlined into the email (a content tree may override it)."""
    if env.loader is None:
        raise ValueError("the template environment has no loader")
    source, _, _ = env.loader.get_source(env, "email/inline.css")
    return source


def render_text(
    env: jinja2.Environment, content: Content, issue: Issue, unsubscribe_url: str | None = None
) -> str:
    """Return the plain-text version: wrapped at 78 columns, every link as a full URL."""
    text = env.get_template("email/issue.txt").render(_context(content, issue, unsubscribe_url))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def message(
    site: Site,
    issue: Issue,
    html: str,
    text: str,
    *,
    to: str | None = None,
    unsubscribe_url: str | None = None,
    subject_prefix: str = "",
    message_id: str | None = None,
) -> EmailMessage:
    """Return the MIME message: text/plain first, text/html last, every header of EMAIL.md."""
    msg = EmailMessage(policy=email.policy.SMTP)
    sender = Address(site.sender_name, addr_spec=site.sender_address)
    msg["From"] = sender
    msg["To"] = to or sender
    if site.reply_to:
        msg["Reply-To"] = site.reply_to
    msg["Subject"] = subject_prefix + issue.title
    sent = dt.datetime.combine(issue.date, dt.time(SEND_HOUR), tzinfo=STOCKHOLM)
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = message_id or f"<{issue.year}.{issue.id}@{site.host}>"
    msg["List-Id"] = f"{site.title} <nyhetsbrev.{site.host}>"
    msg["Archived-At"] = f"<{web_url(site, issue)}>"  # RFC 5064: the issue's web version
    unsubscribe = unsubscribe_url or site.unsubscribe_url
    msg["List-Unsubscribe"] = f"<{unsubscribe}>, <mailto:{site.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Content-Language"] = site.language
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    digest = hashlib.sha256((text + html).encode()).hexdigest()[:32]
    msg.set_boundary(f"=_nyhetsbrev_{digest}")
    return msg


def render_web(env: jinja2.Environment, content: Content, issue: Issue) -> str:
    """Return the issue's web version: semantic HTML with the archive's stylesheet."""
    return env.get_template("web/issue.html").render(
        _context(content, issue, None) | {"content": content, "depth": "../../"}
    )


def render_archive(env: jinja2.Environment, content: Content) -> str:
    """Return the archive home page: issues by year, newest first."""
    years: dict[int, list[Issue]] = {}
    for issue in sorted(content.issues, key=lambda i: (i.date, i.id), reverse=True):
        years.setdefault(issue.year, []).append(issue)
    return env.get_template("web/archive.html").render(
        site=content.site,
        content=content,
        years=years,
        depth="",
        accent=ACCENT,
        campaigns=content.campaigns,
    )


def render_campaign(env: jinja2.Environment, content: Content, campaign: Campaign) -> str:
    """Return a campaign's page: its standing text, its items newest first, its feeds."""
    site = content.site
    items = sorted(
        (i for i in content.items if campaign.slug in i.campaigns),
        key=lambda i: (i.date, i.year, i.issue_id, i.slug),
        reverse=True,
    )
    logo = (
        campaign.logo
        if isinstance(campaign.logo, str) or campaign.logo is None
        else campaign.logo.url
    )
    return env.get_template("web/campaign.html").render(
        site=site,
        content=content,
        campaign=campaign,
        items=items,
        logo=logo,
        issue_titles={(i.year, i.id): i.title for i in content.issues},
        depth="../../",
        feed_base=f"{site.base_url}/campaigns/{campaign.slug}/",
        accent=ACCENT,
    )


def render_issue(
    env: jinja2.Environment,
    content: Content,
    issue: Issue,
    unsubscribe_url: str | None = None,
    timings: Timings | None = None,
) -> RenderedIssue:
    """Return every output of one issue (timings, if given, gets the time per stage)."""
    with timed(timings, "mjml"):
        mjml = render_mjml(env, content, issue, unsubscribe_url)
    html = link_phones(compile_mjml(mjml, email_css(env), timings))
    with timed(timings, "text"):
        text = render_text(env, content, issue, unsubscribe_url)
    with timed(timings, "message"):
        eml = message(content.site, issue, html, text, unsubscribe_url=unsubscribe_url).as_bytes()
    with timed(timings, "web"):
        web = render_web(env, content, issue)
    return RenderedIssue(issue, mjml, html, text, eml, web)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """Return the archive's stylesheet."""
    return (Path(__file__).parent / "templates" / "web" / "style.css").read_text("utf-8")
