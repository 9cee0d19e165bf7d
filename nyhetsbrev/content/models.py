"""The content as frozen values: site settings, campaigns, items and issues."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from nyhetsbrev import schema
from nyhetsbrev.urls import issue_folder

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)


DRAFT = "draft"  # an issue's status while it is written: never published, never counted


def swedish_order(text: str) -> str:
    """Return a sort key that puts å, ä, ö after z, in that order, as Swedish does."""
    return text.casefold().translate(str.maketrans("åäö", "{|}"))


def issue_title(year: int | str, month: int) -> str:
    """Return an issue's default title in Swedish, e.g. 'Nyhetsbrev mars 2022'."""
    return f"Nyhetsbrev {MONTHS[month - 1]} {year}"


@dataclass(frozen=True, repr=False)
class Smtp:
    """[smtp]; each default is the one schema declares, as for every setting below."""

    host: str = schema.text("smtp", "host")
    port: int = schema.number("smtp", "port")
    security: str = schema.text("smtp", "security")
    user: str = ""

    def __repr__(self) -> str:
        return "Smtp()"  # nothing of the mail server for a template that prints it


@dataclass(frozen=True)
class Accessibility:
    """[accessibility]: the accessibility statement (lag 2018:1937, DIGG's rules)."""

    status: str  # helt förenlig | delvis förenlig | inte förenlig
    assessed: dt.date | None
    updated: dt.date | None  # the statement's last update; default: assessed
    method: str
    known_issues: tuple[str, ...]
    exempt: tuple[str, ...]  # unreasonable burden (oskäligt betungande anpassning)
    outside: tuple[str, ...]  # content the law does not cover
    feedback: str  # mailto: or https: address for reports of inaccessible content


@dataclass(frozen=True)
class Privacy:
    """[privacy]: the privacy notice (GDPR art. 13)."""

    controller: str
    contact: str
    legal_basis: str
    retention: str


@dataclass(frozen=True, repr=False)
class Subscriptions:
    """[subscriptions]: the sign-up and unsubscribe service."""

    url: str  # absolute, no trailing slash
    database: Path
    privacy: Privacy
    pending_days: int = schema.number("subscriptions", "pending_days")
    # 0: no per-IP limit
    signups_per_ip_per_hour: int = schema.number("subscriptions", "signups_per_ip_per_hour")

    def __repr__(self) -> str:
        return f"Subscriptions({self.url!r})"  # never the register's path


@dataclass(frozen=True)
class Bounces:
    """[bounces]: the per-recipient return path and the mailbox that returned mail reaches."""

    address: str  # e.g. studs@example.se; each message goes out from studs+<token>@example.se
    host: str = ""  # the IMAP server ("" : only --maildir and --mbox)
    port: int = schema.number("bounces", "port")
    security: str = schema.text("bounces", "security")  # tls | starttls | none
    user: str = ""
    mailbox: str = schema.text("bounces", "mailbox")
    # soft bounces within soft_days that mark an address bounced
    soft_limit: int = schema.number("bounces", "soft_limit")
    soft_days: int = schema.number("bounces", "soft_days")


@dataclass(frozen=True)
class Dkim:
    """[dkim]: sign every message; the private key from the file in NYHETSBREV_DKIM_KEY."""

    domain: str
    selector: str


@dataclass(frozen=True, repr=False)
class Site:
    """newsletter.toml, checked."""

    root: Path
    title: str
    organisation: str
    base_url: str  # absolute, no trailing slash
    language: str
    sender_name: str
    sender_address: str
    reply_to: str
    postal: str
    reason: str
    unsubscribe_url: str
    unsubscribe_mailto: str
    footer_lines: tuple[str, ...]
    feed_items: int = schema.number("feeds", "items")
    smtp: Smtp = field(default_factory=Smtp)
    ledger: Path | None = None
    suppression: Path | None = None
    max_words: int = schema.number("check", "max_words")  # longer items get a warning
    accessibility: Accessibility | None = None  # None: no [accessibility] in newsletter.toml
    exit_url: str = schema.text("safety", "exit_url")  # "Lämna sidan snabbt"
    privacy: Privacy | None = None
    logo: str = ""  # [footer] logo: an https URL or a path under base_url
    logo_alt: str = ""
    website: str = ""  # [footer] website: the organisation's main site
    keep_days: int = schema.number("sending", "keep_days")  # older ledger rows are purged
    subscriptions: Subscriptions | None = None  # [subscriptions] and [privacy], when set
    bounces: Bounces | None = None  # [bounces], when set
    dkim: Dkim | None = None  # [dkim], when set

    def __repr__(self) -> str:
        # A template that prints the site shows its title, never paths or the mail server.
        return f"Site({self.title!r})"

    @property
    def host(self) -> str:
        """Return the host name of base_url (used in Message-ID and List-Id)."""
        return self.base_url.split("://", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class Asset:
    """A local file that an item or campaign refers to, copied into the output."""

    source: Path  # absolute path on disk
    target: str  # path in the output, relative to the output root (POSIX)
    url: str  # absolute public URL
    size: int


@dataclass(frozen=True)
class Markup:
    """Markdown rendered for each output."""

    html: str  # sanitized, absolute URLs
    text: str  # plain text, unwrapped paragraphs separated by blank lines
    first_paragraph: str  # plain text
    assets: tuple[Asset, ...] = ()


@dataclass(frozen=True)
class Source:
    """What every content file has: its slug (file name without .md) and its path."""

    slug: str
    path: str  # relative to the root


@dataclass(frozen=True)
class Campaign(Source):
    """A campaign (campaigns/SLUG.md): the fields schema.CAMPAIGN declares, checked."""

    name: str
    color: str
    url: str
    contact: str
    logo: Asset | str | None
    logo_alt: str
    body: Markup


@dataclass(frozen=True)
class Item(Source):
    """An item of an issue: the fields schema.ITEM declares, checked, and where it belongs."""

    issue_id: str
    year: int
    title: str
    date: dt.date
    id: str
    campaigns: tuple[str, ...]
    summary: str
    delmal: tuple[int, ...]
    malgrupp: tuple[str, ...]
    type: str  # "news" or "event"
    start: dt.datetime | None  # aware, Europe/Stockholm
    end: dt.datetime | None
    location: str
    registration: str
    image: str  # absolute URL or ""
    image_asset: Asset | None
    image_alt: str
    link: str
    body: Markup
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_event(self) -> bool:
        return self.type == "event"


@dataclass(frozen=True)
class Issue:
    id: str
    year: int
    path: str  # of issue.md, relative to the root
    date: dt.date
    title: str
    preheader: str
    status: str
    intro: Markup
    items: tuple[Item, ...]
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_draft(self) -> bool:
        """Return whether the issue is a draft (`status: draft`, also the default)."""
        return self.status == DRAFT

    @property
    def folder(self) -> str:
        """Return the issue's output folder relative to the output root."""
        return issue_folder(self.year, self.id)

    @property
    def news(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.is_event)

    @property
    def events(self) -> tuple[Item, ...]:
        return tuple(sorted((i for i in self.items if i.is_event), key=_start))


def _start(item: Item) -> dt.datetime:
    """Return an event's start, which check() requires of every event."""
    if item.start is None:
        raise ValueError(f"event {item.id} has no start")
    return item.start


@dataclass(frozen=True)
class Content:
    """Everything a build needs, checked and ordered."""

    site: Site
    campaigns: dict[str, Campaign]
    issues: tuple[Issue, ...]  # by date, oldest first

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for issue in self.issues for item in issue.items)

    @property
    def drafts(self) -> tuple[Issue, ...]:
        return tuple(issue for issue in self.issues if issue.is_draft)

    def published(self) -> Content:
        """Return the content without its drafts: what `build` may publish (ready and sent)."""
        return replace(self, issues=tuple(i for i in self.issues if not i.is_draft))

    def counted(self, year: int) -> tuple[Issue, ...]:
        """Return the year's issues that count towards ISSUES_PER_YEAR (vocabulary): no drafts.

        `plan` and `report` both count with this, so they always agree.
        """
        return tuple(i for i in self.issues if i.date.year == year and not i.is_draft)
