"""Delivery over SMTP: test sends and list sends with a ledger that never sends twice.

The only module that talks to the network. The message is rendered from the content by the
same code as `build` (once per issue, with a placeholder unsubscribe URL that is replaced per
recipient in both parts, so premailer runs once and not once per recipient).

SMTP has no exactly-once delivery: the server may accept a message (after the final
`.` of DATA) and the process may die before the ledger records it. The ledger therefore
records each attempt before the message goes out and its outcome right after the reply;
a resumed run resends the at most one message that was in flight and names it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import logging
import smtplib
import sqlite3
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from . import ledger as ledgers
from .errors import ContentError, NyhetsbrevError, Problem, did_you_mean
from .models import STOCKHOLM, Content, Issue, Site, Smtp
from .recipients import Recipient, read_list, read_suppression, unsubscribe_url
from .render import environment, message, render_issue

if TYPE_CHECKING:
    from .subscribers import Audience

log = logging.getLogger(__name__)

PASSWORD_ENV = "NYHETSBREV_SMTP_PASSWORD"
SECRET_ENV = "NYHETSBREV_UNSUBSCRIBE_SECRET"
# Rendered in place of the unsubscribe URL, then replaced per recipient. Letters, digits and
# "/.:-" only, so neither Jinja2's escaping nor premailer changes it.
PLACEHOLDER = "https://personlig-avregistrering.invalid/nyhetsbrev-7f3c9a1e"


class DeliveryError(NyhetsbrevError):
    """The send cannot go on (no connection, login refused, another run holds the ledger)."""


@dataclass(frozen=True)
class Policy:
    """How hard to try: retries of a 4xx reply or a dropped connection, and the pace."""

    retries: int = 3  # per message, after the first try
    wait: float = 5.0  # seconds before the first retry; doubled each time
    timeout: float = 30.0  # seconds for each SMTP command
    rate: float | None = None  # messages per minute, None for as fast as the server takes


@dataclass(frozen=True)
class Template:
    """One issue rendered for sending, with PLACEHOLDER where the unsubscribe URL goes."""

    site: Site
    issue: Issue
    html: str
    text: str


@dataclass(frozen=True)
class Outcome:
    address: str
    state: str  # ledger state: sent or failed
    reply: str  # the server's reply, e.g. "250 2.0.0 Ok: queued as 4F2A1"


@dataclass
class ListPlan:
    """What a list send will do, computed without the network and without writing the ledger."""

    issue: Issue
    recipients: list[Recipient]  # valid and distinct, in list order
    problems: list[Problem]  # skipped lines
    suppressed: list[Recipient]
    sent: list[Recipient]  # already sent according to the ledger
    to_send: list[Recipient]
    in_flight: list[ledgers.Row] = field(default_factory=list)


def find_issue(content: Content, issue_id: str) -> Issue:
    """Return the issue with this id; raise a user error naming the closest one."""
    for issue in content.issues:
        if issue.id == issue_id:
            return issue
    ids = [i.id for i in content.issues]
    raise NyhetsbrevError(
        f'numret "{issue_id}" finns inte under newsletters/{did_you_mean(issue_id, ids)}'
    )


def concerns(problem: Problem, issue: Issue) -> bool:
    """Return whether a content warning is about what goes out with this issue."""
    folder = issue.path.rsplit("/", 1)[0] + "/"
    return problem.path.startswith((folder, "campaigns/", "newsletter.toml", "templates/"))


def require_ready(issue: Issue) -> None:
    """Refuse a list send of an issue whose status is not ready."""
    if issue.status == "ready":
        return
    hint = (
        "För att fortsätta ett avbrutet utskick: sätt tillbaka status: ready; de som fått "
        "numret hoppas över"
        if issue.status == "sent"
        else "Skicka ett testbrev med --to och sätt status: ready när numret är klart"
    )
    raise ContentError(
        [
            Problem(
                issue.path,
                issue.lines.get("status", 1),
                f'numret har status "{issue.status}"; bara ett nummer med status "ready" '
                f"får skickas till en lista. {hint}",
            )
        ]
    )


def prepare(content: Content, issue: Issue) -> Template:
    """Return the issue rendered once, by build's code, with the placeholder unsubscribe URL."""
    folder = content.site.root / "templates"
    env = environment(folder if folder.is_dir() else None)
    rendered = render_issue(env, content, issue, unsubscribe_url=PLACEHOLDER)
    return Template(content.site, issue, rendered.html, rendered.text)


def message_id(template: Template, address: str) -> str:
    """Return the recipient's Message-ID: the same for every retry to the same address."""
    digest = hashlib.sha256(f"{template.issue.id}\0{address.lower()}".encode()).hexdigest()[:20]
    return f"<{template.issue.year}.{template.issue.id}.{digest}@{template.site.host}>"


def personal(
    template: Template,
    to: str,
    name: str,
    unsubscribe: str,
    msg_id: str,
    subject_prefix: str = "",
    date: dt.datetime | None = None,
) -> EmailMessage:
    """Return the message for one recipient, with their unsubscribe URL in headers and parts."""
    body_html = template.html.replace(PLACEHOLDER, html.escape(unsubscribe, quote=True))
    body_text = template.text.replace(PLACEHOLDER, unsubscribe)
    msg = message(
        template.site,
        template.issue,
        body_html,
        body_text,
        to=str(Address(name, addr_spec=to)),
        unsubscribe_url=unsubscribe,
        subject_prefix=subject_prefix,
        message_id=msg_id,
    )
    # A message sent today carries today's date, not the issue's planned morning.
    msg.replace_header("Date", format_datetime(date or dt.datetime.now(STOCKHOLM)))
    return msg


def wire(msg: EmailMessage) -> bytes:
    """Return the message as sent.

    A personal unsubscribe URL is longer than a 78-column line, and folding at 78 would turn
    List-Unsubscribe into an RFC 2047 encoded-word that mail clients do not read as a URL;
    RFC 5322 allows lines up to 998 characters.
    """
    return msg.as_bytes(policy=msg.policy.clone(max_line_length=998))


def plan_list(
    content: Content,
    issue: Issue,
    path: Path | None,
    shown: str,
    audience: Audience | None = None,
) -> ListPlan:
    """Read the list (or take the register's audience), the suppression list and the ledger;
    return what a send would do."""
    site = content.site
    if audience is None:
        assert path is not None
        recipients, problems = read_list(path, shown)
        blocked: set[str] = set()
    else:
        recipients, problems, blocked = audience.recipients, audience.problems, audience.not_active
    suppressed_keys = suppressed(site) | blocked
    rows = _ledger_rows(site, issue.id)
    plan = ListPlan(issue, recipients, problems, [], [], [])
    for r in recipients:
        if r.address in suppressed_keys:
            plan.suppressed.append(r)
        elif r.address in rows and rows[r.address].state == ledgers.SENT:
            plan.sent.append(r)
        else:
            plan.to_send.append(r)
    listed = {r.address for r in plan.to_send}
    plan.in_flight = [r for r in ledgers.in_flight(rows.values()) if r.address in listed]
    return plan


def suppressed(site: Site) -> set[str]:
    """Return the suppression list's addresses (empty when newsletter.toml names none)."""
    if site.suppression is None:
        return set()
    return read_suppression(site.suppression, _relative(site, site.suppression))


def _ledger_rows(site: Site, issue_id: str) -> dict[str, ledgers.Row]:
    path = ledger_path(site)
    if not path.is_file():
        return {}
    with ledgers.Ledger(path) as book:
        return book.rows(issue_id)


def ledger_path(site: Site) -> Path:
    """Return the ledger file; refuse one inside public/, which every build replaces."""
    path = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
    public = (site.root / "public").resolve()
    if path.resolve().is_relative_to(public):
        raise ContentError(
            [
                Problem(
                    "newsletter.toml",
                    1,
                    f'[sending] ledger "{_relative(site, path)}" ligger i '
                    "public/, som ersätts vid varje build; välj en fil utanför, t.ex. "
                    '".nyhetsbrev/sends.sqlite"',
                )
            ]
        )
    return path


@contextlib.contextmanager
def ledger_errors(site: Site) -> Iterator[None]:
    """Turn a ledger that cannot be read or written (corrupt, disk full) into a user error."""
    try:
        yield
    except sqlite3.Error as e:
        raise DeliveryError(
            f"{_relative(site, ledger_path(site))}: liggaren kan inte läsas eller skrivas ({e}). "
            "Åtgärda filen eller disken och kör samma kommando igen; den som skickades sist kan "
            "då få brevet två gånger"
        ) from None


def _relative(site: Site, path: Path) -> str:
    try:
        return path.resolve().relative_to(site.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def unsubscribe_secret() -> str:
    """Return the unsubscribe secret from the environment ("" when unset)."""
    import os

    return os.environ.get(SECRET_ENV, "")


def password_from(smtp: Smtp) -> str | None:
    """Return the SMTP password from the environment; raise if a user is set without one."""
    import os

    password = os.environ.get(PASSWORD_ENV)
    if smtp.user and not password:
        raise DeliveryError(
            f'[smtp] user är "{smtp.user}" men miljövariabeln {PASSWORD_ENV} '
            "är inte satt; sätt den i skalet (aldrig i newsletter.toml)"
        )
    return password


class Connection:
    """One SMTP connection, opened on first use and reopened when the server drops it."""

    def __init__(self, smtp: Smtp, password: str | None, policy: Policy):
        self.smtp = smtp
        self._password = password
        self.policy = policy
        self.client: smtplib.SMTP | None = None
        self.opened = 0
        self.in_data = False

    @property
    def where(self) -> str:
        return f"{self.smtp.host}:{self.smtp.port}"

    def open(self) -> smtplib.SMTP:
        """Return a connected, logged-in client (retrying a refused connection)."""
        if self.client is not None:
            return self.client
        for attempt in range(self.policy.retries + 1):
            try:
                self.client = self._connect()
                break
            except smtplib.SMTPAuthenticationError as e:
                raise DeliveryError(
                    f'{self.where}: inloggningen som "{self.smtp.user}" nekades '
                    f"({_reply(e.smtp_code, e.smtp_error)}); kontrollera "
                    f"[smtp] user och {PASSWORD_ENV}"
                ) from None
            except smtplib.SMTPNotSupportedError:
                raise DeliveryError(
                    f"{self.where}: servern erbjuder inte "
                    + ("STARTTLS" if self.smtp.security == "starttls" else "inloggning (AUTH)")
                    + "; kontrollera [smtp] security och port"
                ) from None
            except (OSError, smtplib.SMTPException) as e:
                log.info("anslutning till %s misslyckades: %s", self.where, _error(e))
                if attempt == self.policy.retries:
                    raise DeliveryError(
                        f"{self.where}: kunde inte ansluta till SMTP-servern ({_error(e)}). "
                        "Kör samma kommando igen när servern svarar; redan skickade "
                        "mottagare hoppas över"
                    ) from None
                time.sleep(self.policy.wait * 2**attempt)
        self.opened += 1
        assert self.client is not None
        return self.client

    def _connect(self) -> smtplib.SMTP:
        host, port, timeout = self.smtp.host, self.smtp.port, self.policy.timeout
        log.info("ansluter till %s (%s)", self.where, self.smtp.security)
        client: smtplib.SMTP
        if self.smtp.security == "tls":
            client = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        try:
            client.ehlo()
            if self.smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.smtp.user:
                _login(client, self.smtp.user, self._password or "")
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        """Say QUIT if the server still listens, then drop the socket."""
        if self.client is None:
            return
        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            self.client.close()
            self.client = None

    def transact(self, sender: str, to: str, data: bytes) -> tuple[int, str]:
        """Return the server's reply to one message: MAIL, RCPT, DATA.

        A dropped connection raises (OSError or SMTPServerDisconnected); the caller reopens.
        """
        client = self.open()
        self.in_data = False
        text: bytes | str  # the server's reply; SMTPDataError may carry either
        code, text = client.mail(sender)
        if code == 250:
            code, text = client.rcpt(to)
            if code in (250, 251):
                self.in_data = True  # from here on a dropped line leaves the outcome unknown
                try:
                    code, text = client.data(data)
                except smtplib.SMTPDataError as e:  # DATA itself refused
                    code, text = e.smtp_code, e.smtp_error
                self.in_data = False
                if code == 250:
                    return code, _text(text)
        if code == 421:  # the server is closing the channel
            self.close()
            return code, _text(text)
        try:
            client.rset()
        except (OSError, smtplib.SMTPException):
            self.close()
        return code, _text(text)


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; smtplib encodes credentials as ASCII, so others go as AUTH PLAIN in UTF-8."""
    if (user + password).isascii():
        client.login(user, password)
        return
    import base64

    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("AUTH")
    credentials = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    code, reply = client.docmd("AUTH", f"PLAIN {credentials}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {_text(text)}".strip()


def _error(e: BaseException) -> str:
    return str(e) or type(e).__name__


DROPPED = (smtplib.SMTPServerDisconnected, OSError)


def deliver(
    conn: Connection,
    sender: str,
    to: str,
    data: bytes,
    begin: Callable[[], None] = lambda: None,
    note: Callable[[str], None] = lambda reply: None,
) -> Outcome:
    """Send one message, retrying 4xx replies and dropped connections; return the outcome."""
    reply = ""
    for attempt in range(conn.policy.retries + 1):
        if attempt:
            time.sleep(conn.policy.wait * 2 ** (attempt - 1))
        conn.open()
        begin()
        try:
            code, text = conn.transact(sender, to, data)
        except DROPPED as e:
            uncertain = conn.in_data
            conn.close()
            reply = f"anslutningen bröts: {_error(e)}"
            log.info("%s: %s; försöker igen", to, reply)
            if not uncertain:  # an empty reply marks the row as possibly delivered
                note(reply)
            continue
        reply = _reply(code, text)
        if 200 <= code < 300:
            log.info("%s: skickat (%s)", to, reply)
            return Outcome(to, ledgers.SENT, reply)
        if code >= 500:
            log.info("%s: nekat (%s)", to, reply)
            return Outcome(to, ledgers.FAILED, reply)
        log.info("%s: tillfälligt fel (%s); försöker igen", to, reply)
        note(reply)
    return Outcome(to, ledgers.FAILED, reply)


class Pace:
    """Keep to at most `rate` messages per minute."""

    def __init__(self, rate: float | None):
        self.interval = 60.0 / rate if rate else 0.0
        self.last: float | None = None

    def wait(self) -> None:
        if self.interval and self.last is not None:
            time.sleep(max(0.0, self.last + self.interval - time.monotonic()))
        self.last = time.monotonic()


def send_test(
    template: Template,
    addresses: Iterable[str],
    conn: Connection,
    secret: str,
    book: ledgers.Ledger | None = None,
) -> list[Outcome]:
    """Send the "[TEST] " message to each address; record them apart from list sends."""
    outcomes = []
    pace = Pace(conn.policy.rate)
    for address in addresses:
        url = (
            unsubscribe_url(template.site.unsubscribe_url, secret, address)
            if secret
            else template.site.unsubscribe_url
        )
        msg_id = (
            f"<{template.issue.year}.{template.issue.id}.test.{uuid.uuid4().hex[:16]}"
            f"@{template.site.host}>"
        )
        msg = personal(template, address, "", url, msg_id, subject_prefix="[TEST] ")
        pace.wait()
        outcome = deliver(conn, template.site.sender_address, address, wire(msg))
        if book is not None:
            book.record_test(template.issue.id, address, outcome.reply)
        outcomes.append(outcome)
    return outcomes


def send_list(
    template: Template,
    plan: ListPlan,
    conn: Connection,
    secret: str,
    book: ledgers.Ledger,
    progress: Callable[[Outcome], None] = lambda o: None,
    link: Callable[[str], str] | None = None,
    wanted: Callable[[str], bool] | None = None,
) -> list[Outcome]:
    """Send to every recipient the ledger does not list as sent; return the outcomes.

    link gives an address's unsubscribe URL (default: the [unsubscribe] url with a token);
    wanted, asked just before each message, skips an address unsubscribed during the send.
    """
    issue_id = template.issue.id
    book.add(issue_id, [r.address for r in plan.to_send])
    rows = book.rows(issue_id)
    outcomes = []
    pace = Pace(conn.policy.rate)
    for r in plan.to_send:
        if rows[r.address].state == ledgers.SENT:  # sent by a run that ended after planning
            continue
        if wanted is not None and not wanted(r.address):
            plan.suppressed.append(r)
            progress(Outcome(r.address, "skipped", ""))
            continue
        msg_id = message_id(template, r.address)
        url = (
            link(r.address)
            if link is not None
            else unsubscribe_url(template.site.unsubscribe_url, secret, r.address)
        )
        data = wire(personal(template, r.address, r.name, url, msg_id))
        pace.wait()
        outcome = deliver(
            conn,
            template.site.sender_address,
            r.address,
            data,
            begin=partial(book.begin, issue_id, r.address, msg_id),
            note=partial(book.finish, issue_id, r.address, ledgers.PENDING),
        )
        book.finish(issue_id, r.address, outcome.state, outcome.reply)
        outcomes.append(outcome)
        progress(outcome)
    return outcomes


def load_site(root: Path) -> Site:
    """Return the checked newsletter.toml alone (enough for --status)."""
    from .config import parse_config
    from .errors import ERROR
    from .load import CONFIG

    root = root.resolve()
    path = root / CONFIG
    site, problems = parse_config(path.read_text("utf-8-sig") if path.is_file() else None, root)
    if site is None:
        raise ContentError([p for p in problems if p.severity == ERROR])
    return site


def status_lines(site: Site, issue_id: str) -> list[str]:
    """Return the ledger's account of one issue, in Swedish."""
    path = ledger_path(site)
    shown = _relative(site, path)
    if not path.is_file():
        return [f"{issue_id}: inga utskick ännu (liggaren {shown} finns inte)"]
    with ledgers.Ledger(path) as book:
        rows, tests = book.rows(issue_id), book.tests(issue_id)
        counts = book.counts(issue_id)
        issues = book.issues()
    if not rows and not tests:
        return [f"{issue_id}: inga utskick i {shown}{did_you_mean(issue_id, issues)}"]
    lines = [
        f"{issue_id}: {_n(counts[ledgers.SENT], 'skickad', 'skickade')}, "
        f"{_n(counts[ledgers.FAILED], 'misslyckad', 'misslyckade')}, "
        f"{counts[ledgers.PENDING]} väntar ({len(rows)} mottagare i {shown})"
    ]
    failed = [r for r in rows.values() if r.state == ledgers.FAILED]
    if failed:
        lines.append("misslyckade:")
        lines += [f"  {r.address}: {r.reply}" for r in failed]
    uncertain = ledgers.in_flight(rows.values())
    if uncertain:
        lines.append(
            "avbrutna mitt i sändningen (kan ha fått brevet; skickas igen vid nästa körning):"
        )
        lines += [f"  {r.address} ({_local(r.updated)})" for r in uncertain]
    if tests:
        address, _, when = tests[-1]
        lines.append(f"testbrev: {len(tests)}, senast till {address} {_local(when)}")
    return lines


def _local(stamp: str) -> str:
    return dt.datetime.fromisoformat(stamp).astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def plan_lines(plan: ListPlan, shown: str, site: Site, rate: float | None, size: int) -> list[str]:
    """Return what a list send would do (for --dry-run), in Swedish."""
    smtp = site.smtp
    lines = [
        f'Provkörning, inget skickas: "{plan.issue.title}" ({plan.issue.id}) till {shown}',
        f"  {_n(len(plan.recipients), 'giltig adress', 'giltiga adresser')}, "
        f"{_n(len(plan.problems), 'rad', 'rader')} hoppas över",
        f"  {_n(len(plan.suppressed), 'avregistrerad', 'avregistrerade')} får inget",
        f"  {len(plan.sent)} har redan fått numret enligt {_relative(site, ledger_path(site))}",
        f"  {len(plan.to_send)} skulle skickas nu via {smtp.host}:{smtp.port} ({smtp.security})"
        + (f", {rate:g} per minut: cirka {_minutes(len(plan.to_send), rate)}" if rate else ""),
        f"  från {site.sender_name} <{site.sender_address}>, {size / 1024:.0f} kB per brev",
    ]
    lines += [
        f"  kan redan ha fått brevet (avbrott mitt i sändning): {r.address}" for r in plan.in_flight
    ]
    return lines


def _minutes(n: int, rate: float) -> str:
    minutes = n / rate
    return f"{minutes:.0f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def summary_line(plan: ListPlan, outcomes: list[Outcome], shown: str, seconds: float) -> str:
    """Return the closing line of a list send, in Swedish."""
    sent = sum(o.state == ledgers.SENT for o in outcomes)
    failed = len(outcomes) - sent
    return (
        f"Klart: {plan.issue.id} till {shown}: {_n(sent, 'skickad', 'skickade')} nu, "
        f"{len(plan.sent)} hade redan fått numret, {failed} misslyckades, "
        f"{_n(len(plan.suppressed), 'avregistrerad', 'avregistrerade')}, "
        f"{_n(len(plan.problems), 'rad', 'rader')} hoppades över ({seconds:.1f} s)"
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
