"""Delivery over SMTP: test sends and list sends with a ledger that never sends twice.

The only module that talks to the network. The message is rendered from the content by the
same code as `build` (once per issue, with a placeholder unsubscribe URL that is replaced per
recipient in both parts, so premailer runs once and not once per recipient).

SMTP has no exactly-once delivery: the server may accept a message (after the final
`.` of DATA) and the process may die, the reply time out or the connection drop before the
ledger records it. The ledger therefore records each attempt before the message goes out and
its outcome right after the reply. A message whose outcome is unknown is `uncertain`
(possibly delivered): never retried in the same run, and sent again by a later run only when
the operator asks for it (`resend_uncertain`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import html
import ipaddress
import logging
import os
import re
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

from nyhetsbrev import database
from nyhetsbrev.build.publish import replace_file
from nyhetsbrev.build.render import message, render_issue, site_environment
from nyhetsbrev.content.load import config_line, read_bytes, relative
from nyhetsbrev.content.models import STOCKHOLM, Content, Issue, Site, Smtp
from nyhetsbrev.delivery import client as client_module
from nyhetsbrev.delivery import ledger as ledgers
from nyhetsbrev.delivery import records, signing
from nyhetsbrev.delivery.wire import PLAIN_ADDRESS, Wire
from nyhetsbrev.errors import ContentError, NyhetsbrevError, Problem, did_you_mean
from nyhetsbrev.subscriptions.recipients import (
    Recipient,
    read_list,
    read_suppression,
    secret_problem,
    unsubscribe_url,
)

if TYPE_CHECKING:
    from nyhetsbrev.subscriptions.subscribers import Audience

log = logging.getLogger(__name__)

PASSWORD_ENV = "NYHETSBREV_SMTP_PASSWORD"
SECRET_ENV = "NYHETSBREV_UNSUBSCRIBE_SECRET"
# Rendered in place of the unsubscribe URL, then replaced per recipient. Letters, digits and
# "/.:-" only, so neither Jinja2's escaping nor premailer changes it.
PLACEHOLDER = "https://personlig-avregistrering.invalid/nyhetsbrev-7f3c9a1e"


class DeliveryError(NyhetsbrevError):
    """The send cannot go on (no connection, login refused, another run holds the ledger)."""


class LedgerChanged(DeliveryError):
    """The ledger file was deleted, replaced or emptied while the send was running."""


@dataclass(frozen=True)
class Policy:
    """How hard to try: retries of a 4xx reply or a dropped connection, and the pace."""

    retries: int = 3  # per message, after the first try
    wait: float = 5.0  # seconds before the first retry; doubled each time
    timeout: float = 30.0  # seconds for each SMTP command
    rate: float | None = None  # messages per minute, None for as fast as the server takes
    pause_after: int = 5  # stop after this many recipients in a row without a clear answer


@dataclass(frozen=True)
class Template:
    """One issue rendered for sending, with PLACEHOLDER where the unsubscribe URL goes."""

    site: Site
    issue: Issue
    html: str
    text: str
    # The unsubscribe secret, which also keys each recipient's Message-ID and return-path
    # token, so that nobody without it can forge a bounce or complaint for an address.
    key: bytes = b""


@dataclass(frozen=True)
class Outcome:
    address: str
    state: str  # ledger state: sent, failed or uncertain
    reply: str  # the server's reply, e.g. "250 2.0.0 Ok: queued as 4F2A1"
    transient: bool = False  # failed on a 4xx reply or a dropped line: may work later


@dataclass
class ListReport:
    """What a list send did."""

    outcomes: list[Outcome]
    paused: str = ""  # why the run stopped before the end of the list, in Swedish
    complete: bool = False  # every listed recipient is now sent or failed


@dataclass
class ListPlan:
    """What a list send will do, computed without the network and without writing the ledger."""

    issue: Issue
    recipients: list[Recipient]  # valid and distinct, in list order
    problems: list[Problem]  # skipped lines
    suppressed: list[Recipient]
    sent: list[Recipient]  # already sent according to the ledger
    to_send: list[Recipient]
    # possibly delivered by an earlier run (uncertain, or in flight when it died)
    uncertain: list[ledgers.Row] = field(default_factory=list)
    resend_uncertain: bool = False  # whether to_send holds them


SAMPLE_RECIPIENT = (
    "prov.mottagare@exempel.se",
    "Åsa Öberg-Lindström, Länsstyrelsen",
    "https://exempel.se/avsluta?e=prov.mottagare%40exempel.se&t=" + "x" * 64,
    "<prov.1@exempel.se>",
)


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
    env = site_environment(content.site)
    rendered = render_issue(env, content, issue, unsubscribe_url=PLACEHOLDER)
    key = os.environ.get(SECRET_ENV, "").encode()
    return Template(content.site, issue, rendered.html, rendered.text, key)


def message_id(template: Template, address: str) -> str:
    """Return the recipient's Message-ID: the same for every retry to the same address.

    Its digest is keyed with the unsubscribe secret when there is one (a list send always has
    it): the return-path token is that digest, and returned mail is matched by it.
    """
    data = f"{template.issue.id}\0{address.lower()}".encode()
    if template.key:
        digest = hmac.new(template.key, data, hashlib.sha256).hexdigest()[:20]
    else:
        digest = hashlib.sha256(data).hexdigest()[:20]
    return f"<{template.issue.year}.{template.issue.id}.{digest}@{template.site.host}>"


def token(msg_id: str) -> str:
    """Return the return-path token of a Message-ID made by message_id (its digest)."""
    return msg_id.split("@", 1)[0].rsplit(".", 1)[-1]


def return_path(site: Site, msg_id: str) -> str:
    """Return the envelope sender: per recipient (studs+<token>@...) when [bounces] is set.

    Returned mail then names the ledger row it answers even when it quotes nothing of the
    original message.
    """
    if site.bounces is None or not site.bounces.address:
        return site.sender_address
    local, domain = site.bounces.address.split("@", 1)
    return f"{local}+{token(msg_id)}@{domain}"


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
    resend_uncertain: bool = False,
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
    if ledgers.lost(ledger_path(site)):
        raise DeliveryError(ledger_lost(site))
    rows = _ledger_rows(site, issue.id)
    unsure = {r.address: r for r in possibly_delivered(rows.values())}
    plan = ListPlan(issue, recipients, problems, [], [], [], resend_uncertain=resend_uncertain)
    for r in recipients:
        if r.address in suppressed_keys:
            plan.suppressed.append(r)
        elif r.address in rows and rows[r.address].state == ledgers.SENT:
            plan.sent.append(r)
        else:
            if r.address in unsure:
                plan.uncertain.append(unsure[r.address])
                if not resend_uncertain:
                    continue
            plan.to_send.append(r)
    return plan


def possibly_delivered(rows: Iterable[ledgers.Row]) -> list[ledgers.Row]:
    """Return the rows whose message the server may have accepted without saying so."""
    flying = {r.address for r in ledgers.in_flight(rows)}
    return [r for r in rows if r.state == ledgers.UNCERTAIN or r.address in flying]


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
            f"{_relative(site, ledger_path(site))}: utskicksregistret kan inte läsas eller "
            f"skrivas ({database.reason(e)}). "
            "Åtgärda filen eller disken och kör samma kommando igen; den som skickades sist kan "
            "då få brevet två gånger"
        ) from None


def _relative(site: Site, path: Path) -> str:
    return relative(site.root.resolve(), path)


def unsubscribe_secret() -> str:
    """Return the unsubscribe secret from the environment ("" when unset); refuse a weak one."""
    import os

    secret = os.environ.get(SECRET_ENV, "")
    if secret and (problem := secret_problem(secret, f"miljövariabeln {SECRET_ENV}")):
        raise DeliveryError(problem)
    return secret


def plaintext_login(site: Site) -> Problem | None:
    """Return the refusal of a password sent unencrypted, or None when the login is safe.

    `security = "none"` with a `user` sends the password in clear text. That is refused
    unless the server is on this machine (a loopback address or "localhost"), where nothing
    crosses a network.
    """
    smtp = site.smtp
    if smtp.security != "none" or not smtp.user or is_loopback(smtp.host):
        return None
    return Problem(
        "newsletter.toml",
        config_line(site.root, "smtp", "security"),
        f'[smtp] security = "none" med user = "{smtp.user}" skulle skicka lösenordet '
        f'okrypterat till {smtp.host}; använd "starttls" eller "tls". Okrypterad '
        "inloggning tillåts bara mot en server på den egna datorn (localhost eller 127.0.0.1)",
    )


def address_problems(site: Site) -> list[Problem]:
    """Return a problem for each address in [sender] that cannot stand in a message.

    Every message carries them (the envelope sender, From, Reply-To), so a bad one would
    fail every recipient alike; it is refused before anything is sent.
    """
    from nyhetsbrev.subscriptions.recipients import normalize

    problems = []
    for key, value in (("address", site.sender_address), ("reply_to", site.reply_to)):
        if not value and key == "reply_to":
            continue
        key_form, reason = normalize(value)
        if not reason and not value.isascii():
            reason = (
                f'"{value}" har tecken utanför ASCII; skriv "{key_form}", den form som '
                "e-postservrar använder"
            )
        if reason:
            problems.append(
                Problem(
                    "newsletter.toml",
                    config_line(site.root, "sender", key),
                    f"[sender] {key}: {reason}",
                )
            )
    return problems


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(site: Site) -> None:
    """Refuse sender addresses that cannot stand in a message and a clear-text login."""
    problems = address_problems(site)
    if problem := plaintext_login(site):
        problems.append(problem)
    if problems:
        raise ContentError(problems)
    signing.check(site)


def password_from(site: Site) -> str | None:
    """Return the SMTP password from the environment; raise if a user is set without one,
    or if it would travel unencrypted."""
    import os

    smtp = site.smtp
    check_settings(site)
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
            client = client_module.BoundedSMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = client_module.BoundedSMTP(host, port, timeout=timeout)
        try:
            client.ehlo()
            if self.smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self.smtp.user:
                log_in(client, self.smtp.user, self._password or "")
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
        if client.does_esmtp and client.has_extn("pipelining"):
            code, text = self._pipelined(client, sender, to, data)
            if code == 250:
                return code, _text(text)
        else:
            code, text = _in_step(client, *client.mail(sender), expected=(250,))
            if code == 250:
                code, text = _in_step(client, *client.rcpt(to), expected=(250, 251))
                if code in (250, 251):
                    code, text = self._data(client, data)
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

    def _data(self, client: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
        """Send DATA and the message; set in_data while the outcome would be unknown.

        smtplib's data() in two steps, so that a drop before the server's 354 (nothing
        handed over: safe to retry) is told apart from a drop or timeout after the message
        went out (the server may have accepted it).
        """
        client.putcmd("data")
        code, text = client.getreply()
        if code != 354:
            return _in_step(client, code, text)
        return self._message(client, data)

    def _message(self, client: smtplib.SMTP, data: bytes) -> tuple[int, bytes]:
        """Send the message after DATA's 354 and return the server's reply to its end."""
        # A send that fails part-way never delivered the final ".": the server cannot have
        # accepted the message. Once it is all out, a drop or timeout leaves it unknown.
        client.send(stuffed(data))
        self.in_data = True
        code, text = client.getreply()
        if not (200 <= code < 300 or 400 <= code < 600):
            # Neither taken nor refused (no reply code, a 1xx or 3xx): the server may have
            # it, so it stays in_data, as a drop here would leave it.
            client.close()
            raise smtplib.SMTPServerDisconnected(f"inget SMTP-svar: {_reply(code, text)}")
        self.in_data = False
        return code, text

    def _pipelined(
        self, client: smtplib.SMTP, sender: str, to: str, data: bytes
    ) -> tuple[int, bytes]:
        """MAIL, RCPT and DATA in one write (RFC 2920 PIPELINING), then the message.

        The same commands as smtplib's mail(), rcpt() and the DATA of _data(), and the same
        message, only without waiting for each reply before the next command: one round trip
        less than two. The message itself goes only after DATA's 354, so a drop before it
        still hands nothing over, and one message at most is ever in flight.
        """
        commands = (f"mail FROM:{quoted(sender)}", f"rcpt TO:{quoted(to)}", "data")
        for command in commands:
            if "\r" in command or "\n" in command:  # as smtplib's putcmd refuses them
                raise ValueError("command and arguments contain prohibited newline characters")
        client.send("".join(f"{command}\r\n" for command in commands))
        # Every command gets its reply, in order, whatever the one before got; after a 421
        # the server closes the channel and answers nothing more.
        mail = _in_step(client, *client.getreply(), expected=(250,))
        if mail[0] == 421:
            return mail
        rcpt = _in_step(client, *client.getreply(), expected=(250, 251))
        if rcpt[0] == 421:
            return rcpt
        started = client.getreply()
        if started[0] != 354 and mail[0] == 250 and rcpt[0] in (250, 251):
            _in_step(client, *started)  # a refusal before it is the answer, whatever this is
        if started[0] == 354 and rcpt[0] in (250, 251) and mail[0] != 250:
            # A recipient taken after a refused MAIL: "." would hand the server an empty
            # message for it. Dropping the line mid-DATA hands over nothing.
            client.close()
        elif started[0] == 354 and (mail[0] != 250 or rcpt[0] not in (250, 251)):
            # A server that starts DATA with no recipient gets an empty message (RFC 2920,
            # 3.1): its reply is not the answer; the refusal before it is.
            client.send(b".\r\n")
            client.getreply()
        if mail[0] != 250:
            return mail
        if rcpt[0] not in (250, 251):
            return rcpt
        if started[0] != 354:
            return started
        return self._message(client, data)


def _in_step(
    client: smtplib.SMTP, code: int, text: bytes, expected: tuple[int, ...] = (354,)
) -> tuple[int, bytes]:
    """Return the reply to a command before the message, if it is one the command can get.

    A reply below 400 that is not the one the step expects (a 250 to DATA, a 354 to MAIL,
    no reply code at all) means the replies are out of step with the commands: an extra or
    a missing one would make a later 250 seem to accept a message that never went. The
    channel is closed and it counts as a drop before the message (tried again).
    """
    if code >= 400 or code in expected:
        return code, text
    client.close()
    raise smtplib.SMTPServerDisconnected(f"svaret passar inte kommandot: {_reply(code, text)}")


def quoted(address: str) -> str:
    """Return smtplib.quoteaddr(address) (as mail() and rcpt() write it), a plain address
    without parsing it."""
    if PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def stuffed(data: bytes) -> bytes:
    """Return the message as it goes after DATA: each line starting with "." gets one more
    (RFC 5321, 4.5.2), the last line ended, then the closing "." line.

    The same bytes as `re.sub(rb"(?m)^\\.", b"..", data)` (as smtplib stuffs them) at a
    tenth of its cost: ^ in multiline mode is the start and each position after a "\\n".
    """
    body = data.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def log_in(client: smtplib.SMTP, user: str, password: str) -> None:
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
            conn.in_data = False
            conn.close()
            if uncertain:  # the server may have the message: never send it again this run
                reply = f"inget svar efter att brevet lämnats över: {_error(e)}"
                log.info("%s: %s; kan ha kommit fram", to, reply)
                return Outcome(to, ledgers.UNCERTAIN, reply)
            reply = f"anslutningen bröts: {_error(e)}"
            log.info("%s: %s; försöker igen", to, reply)
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
    return Outcome(to, ledgers.FAILED, reply, transient=True)


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
    link: Callable[[str], str] | None = None,
) -> list[Outcome]:
    """Send the "[TEST] " message to each address; record them apart from list sends.

    link gives an address's unsubscribe URL (default: the [unsubscribe] url with a token).
    """
    outcomes = []
    pace = Pace(conn.policy.rate)
    for address in addresses:
        if link is not None:
            url = link(address)
        elif secret:
            url = unsubscribe_url(template.site.unsubscribe_url, secret, address)
        else:
            url = template.site.unsubscribe_url
        msg_id = (
            f"<{template.issue.year}.{template.issue.id}.test.{uuid.uuid4().hex[:16]}"
            f"@{template.site.host}>"
        )
        msg = personal(template, address, "", url, msg_id, subject_prefix="[TEST] ")
        pace.wait()
        data = signing.sign(template.site, wire(msg))
        outcome = deliver(conn, return_path(template.site, msg_id), address, data)
        if book is not None:
            book.record_test(template.issue.id, address, outcome.reply)
        outcomes.append(outcome)
    return outcomes


IN_FLIGHT = "avbröts medan brevet skickades"


def send_list(
    template: Template,
    plan: ListPlan,
    conn: Connection,
    secret: str,
    book: ledgers.Ledger,
    progress: Callable[[Outcome], None] = lambda o: None,
    link: Callable[[str], str] | None = None,
    wanted: Callable[[str], bool] | None = None,
) -> ListReport:
    """Send to every recipient the plan holds and the ledger does not list as sent.

    Never sends to one recipient twice in a run. Stops early (report.paused) after
    policy.pause_after recipients in a row without a clear answer from the server, and
    raises LedgerChanged if the ledger file is deleted, replaced or emptied under the run.
    link gives an address's unsubscribe URL (default: the [unsubscribe] url with a token);
    wanted, asked just before each message, skips an address unsubscribed during the send.
    """
    issue_id = template.issue.id
    ledgers.mark_used(book.path)
    # An earlier run that died mid-message left its row in flight: possibly delivered.
    for row in ledgers.in_flight(book.rows(issue_id).values()):
        book.finish(issue_id, row.address, ledgers.UNCERTAIN, IN_FLIGHT)
    book.add(issue_id, [r.address for r in plan.to_send])
    rows = book.rows(issue_id)
    expected = len(rows)
    report = ListReport([])
    pace = Pace(conn.policy.rate)
    streak = 0
    for index, r in enumerate(plan.to_send):
        state = rows[r.address].state
        if state == ledgers.SENT:  # sent by a run that ended after planning
            continue
        if state == ledgers.UNCERTAIN and not plan.resend_uncertain:
            continue
        if not book.unchanged(issue_id, expected):
            raise LedgerChanged(ledger_changed(template.site, book.path, report.outcomes))
        if wanted is not None and not wanted(r.address):
            plan.suppressed.append(r)
            progress(Outcome(r.address, "skipped", ""))
            continue
        outcome = _one(template, r, conn, secret, book, pace, link)
        # Committed with the next message's begin, before it goes out: one commit a message.
        book.finish_later(issue_id, r.address, outcome.state, outcome.reply)
        report.outcomes.append(outcome)
        progress(outcome)
        streak = streak + 1 if outcome.transient or outcome.state == ledgers.UNCERTAIN else 0
        if streak >= conn.policy.pause_after and index + 1 < len(plan.to_send):
            report.paused = paused(streak, outcome.reply, len(plan.to_send) - index - 1)
            book.flush()
            return report
    book.flush()
    states = {a: row.state for a, row in book.rows(issue_id).items()}
    done = (ledgers.SENT, ledgers.FAILED)
    report.complete = all(
        states.get(r.address) in done for r in plan.recipients if r not in plan.suppressed
    )
    if report.complete:
        records.write_package(template, plan, book)  # the sent issue kept as a record
    return report


def _one(
    template: Template,
    r: Recipient,
    conn: Connection,
    secret: str,
    book: ledgers.Ledger,
    pace: Pace,
    link: Callable[[str], str] | None = None,
) -> Outcome:
    """Build and deliver one recipient's message; a message that cannot be built fails alone."""
    issue_id = template.issue.id
    msg_id = message_id(template, r.address)
    try:
        url = (
            link(r.address)
            if link is not None
            else unsubscribe_url(template.site.unsubscribe_url, secret, r.address)
        )
        data = signing.sign(template.site, _wired(template, r.address, r.name, url, msg_id))
    except Exception as e:  # one recipient never stops the send
        log.info("%s: kunde inte byggas: %r", r.address, e)
        return Outcome(r.address, ledgers.FAILED, f"brevet kunde inte byggas ({_error(e)})")
    if pace.interval or conn.client is None:
        book.flush()  # the last outcome is not held back while the run waits or connects
    pace.wait()
    return deliver(
        conn,
        return_path(template.site, msg_id),
        r.address,
        data,
        begin=partial(book.begin, issue_id, r.address, msg_id),
        note=partial(book.finish, issue_id, r.address, ledgers.PENDING),
    )


_WIRES: list[tuple[Template, Wire | None]] = []  # the last template's Wire (None: unusable)


def _wired(template: Template, to: str, name: str, url: str, msg_id: str) -> bytes:
    """Return wire(personal(template, to, name, url, msg_id)), by a Wire where it is proven."""
    if not _WIRES or _WIRES[0][0] is not template:
        try:
            fast: Wire | None = Wire(template, PLACEHOLDER)
            if fast is not None and not fast.check(*SAMPLE_RECIPIENT):
                fast = None
        except Exception:  # the message's layout is not what Wire knows: the full path
            fast = None
        _WIRES[:] = [(template, fast)]
    fast = _WIRES[0][1]
    if fast is not None:
        try:
            return fast.message(to, name, url, msg_id)
        except Exception:
            pass  # the full path below builds it or raises its own error
    return wire(personal(template, to, name, url, msg_id))


def paused(streak: int, reply: str, left: int) -> str:
    """Return why a list send stopped early and how to resume, in Swedish."""
    return (
        f"Utskicket pausades: servern gav inget klart svar för {_words(streak)} mottagare i rad "
        f"(senast: {reply}). Ytterligare {_words(left)} mottagare har inte fått numret ännu, "
        "och utskicksregistret visar exakt vilka som fått det. Vänta tills servern "
        "fungerar (fråga den som sköter den) och kör sedan samma kommando igen; de som fått "
        "numret hoppas över"
    )


def ledger_changed(site: Site, path: Path, outcomes: list[Outcome]) -> str:
    """Return the message for a ledger that vanished or was replaced mid-send, in Swedish."""
    sent = sum(o.state == ledgers.SENT for o in outcomes)
    return (
        f"{_relative(site, path)}: utskicksregistret togs bort, byttes ut eller tömdes medan "
        f"utskicket pågick; utskicket stoppades ({_n(sent, 'brev', 'brev')} skickades i den "
        "här körningen). Registret är minnet av vem som fått numret: återställ filen (t.ex. "
        "från en säkerhetskopia) innan du kör igen, annars får alla numret en gång till"
    )


def unfinished(issue: Issue, failed: int, unsure: int, marked: bool) -> str:
    """Return the closing error of a list send that left someone without the issue."""
    if failed and unsure:
        what = (
            f"Numret kom inte fram till {_words(failed)} mottagare, och {_words(unsure)} kan "
            "ha fått det utan att servern svarade"
        )
    elif failed:
        what = f"Numret kom inte fram till {_words(failed)} mottagare"
    else:
        what = (
            f"Servern svarade inte på brevet till {_words(unsure)} mottagare, som kan ha fått det"
        )
    again = "Sätt tillbaka status: ready och kör" if marked else "Kör"
    return (
        f"{what}; se ovan och `send {issue.id} --status`. {again} samma kommando igen för att "
        "försöka på nytt; de som fått numret hoppas över"
        + (
            ", och den som kan ha fått det får det igen bara med --resend-uncertain"
            if unsure
            else ""
        )
    )


def uncertain_warnings(plan: ListPlan) -> list[str]:
    """Return a warning per recipient who may already have the message, in Swedish."""
    then = "det skickas igen" if plan.resend_uncertain else "hoppas över utan --resend-uncertain"
    return [
        f"{row.address} kan redan ha fått brevet ({row.reply or IN_FLIGHT}); {then}"
        for row in plan.uncertain
    ]


def still_uncertain(plan: ListPlan, report: ListReport) -> str:
    """Return why the issue stays ready when only possibly delivered recipients are left."""
    if report.complete or report.paused or plan.resend_uncertain or not plan.uncertain:
        return ""
    return (
        f"Numret har kvar status: ready: {_words(len(plan.uncertain))} mottagare kan ha fått "
        "brevet utan att servern svarade. Kör samma kommando med --resend-uncertain för att "
        "skicka till dem igen (de kan då få det två gånger), eller sätt status: sent i "
        f"{plan.issue.path} om du vet att det kom fram"
    )


def ledger_lost(site: Site) -> str:
    """Return the refusal of a list send whose ledger has disappeared, in Swedish."""
    path = ledger_path(site)
    return (
        f"{_relative(site, path)}: utskicksregistret saknas, men ett tidigare utskick har "
        "skrivit i det. Registret är minnet av vem som fått vilket nummer: utan det får alla "
        "numret igen. Återställ filen (t.ex. från en säkerhetskopia). Vill du verkligen börja "
        f"om från noll, ta bort {_relative(site, path.with_name(path.name + '.lock'))}"
    )


def mark_sent(issue: Issue, root: Path) -> bool:
    """Set `status: sent` in the issue's file, changing that one line and nothing else.

    Line endings, a byte order mark and every other byte stay as they were, and the file is
    replaced in one step. Return False when the status line does not say `ready`.
    """

    path = root / issue.path
    raw = read_bytes(path)
    lines = raw.splitlines(keepends=True)
    number = issue.lines.get("status", 0)
    if not 1 < number <= len(lines):
        return False
    found = re.fullmatch(
        rb"(\s*status\s*:\s*)(ready|\"ready\"|'ready')(\s*(?:#.*)?)",
        lines[number - 1],
        flags=re.DOTALL,
    )
    if found is None:
        return False
    lines[number - 1] = found.group(1) + b"sent" + found.group(3)
    replace_file(path, b"".join(lines))
    return True


def load_site(root: Path) -> Site:
    """Return the checked newsletter.toml alone (enough for --status)."""
    from nyhetsbrev.content.config import load_site as read
    from nyhetsbrev.errors import ERROR

    site, problems = read(root)
    if site is None:
        raise ContentError([p for p in problems if p.severity == ERROR])
    return site


def status_lines(site: Site, issue_id: str) -> list[str]:
    """Return the ledger's account of one issue, in Swedish."""
    path = ledger_path(site)
    shown = _relative(site, path)
    if not path.is_file():
        return [f"{issue_id}: inga utskick ännu (utskicksregistret {shown} finns inte)"]
    with ledgers.Ledger(path) as book:
        rows, tests = book.rows(issue_id), book.tests(issue_id)
        counts = book.counts(issue_id)
        issues = book.issues()
    if not rows and not tests:
        return [f"{issue_id}: inga utskick i {shown}{did_you_mean(issue_id, issues)}"]
    uncertain = possibly_delivered(rows.values())
    lines = [
        f"{issue_id}: {_n(counts[ledgers.SENT], 'skickad', 'skickade')}, "
        f"{_n(counts[ledgers.FAILED], 'misslyckad', 'misslyckade')}, "
        f"{counts[ledgers.PENDING] - (len(uncertain) - counts[ledgers.UNCERTAIN])} väntar"
        + (f", {len(uncertain)} kan ha fått brevet" if uncertain else "")
        + f" ({len(rows)} mottagare i {shown})"
    ]
    failed = [r for r in rows.values() if r.state == ledgers.FAILED]
    if failed:
        lines.append("misslyckade:")
        lines += [f"  {r.address}: {r.reply}" for r in failed]
    if uncertain:
        lines.append(
            "kan ha fått brevet (servern svarade inte efter att brevet lämnats över; skickas "
            "igen bara med --resend-uncertain):"
        )
        lines += [f"  {r.address}: {r.reply or IN_FLIGHT} ({_local(r.updated)})" for r in uncertain]
    if tests:
        address, _, when = tests[-1]
        lines.append(f"testbrev: {len(tests)}, senast till {address} {_local(when)}")
    from nyhetsbrev.delivery.deliverability import for_site
    from nyhetsbrev.delivery.deliverability import status_line as outcome_line

    if rows and (figures := for_site(site).get(issue_id)):
        lines.append(outcome_line(figures))
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
    again = "skickas igen" if plan.resend_uncertain else "hoppas över utan --resend-uncertain"
    lines += [f"  kan redan ha fått brevet ({again}): {r.address}" for r in plan.uncertain]
    return lines


def _minutes(n: int, rate: float) -> str:
    minutes = n / rate
    return f"{minutes:.0f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def summary_line(plan: ListPlan, outcomes: list[Outcome], shown: str, seconds: float) -> str:
    """Return the closing line of a list send, in Swedish."""
    from nyhetsbrev.numerals import decimal

    sent = sum(o.state == ledgers.SENT for o in outcomes)
    unsure = sum(o.state == ledgers.UNCERTAIN for o in outcomes)
    failed = len(outcomes) - sent - unsure
    return (
        f"Klart: {plan.issue.id} till {shown}: {_n(sent, 'skickad', 'skickade')} nu, "
        f"{len(plan.sent)} hade redan fått numret, {failed} misslyckades, "
        + (f"{unsure} kan ha fått brevet, " if unsure else "")
        + f"{_n(len(plan.suppressed), 'avregistrerad', 'avregistrerade')}, "
        f"{_n(len(plan.problems), 'rad', 'rader')} hoppades över ({decimal(seconds, 1)} s)"
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


WORDS = "noll en två tre fyra fem sex sju åtta nio tio elva tolv".split()


def _words(count: int) -> str:
    """Return a small number as a word for running text (klarspråk), a larger one in digits."""
    return WORDS[count] if 0 <= count < len(WORDS) else str(count)


# --- the web version must be online before the email points at it -------------------------

WEB_TIMEOUT = 10.0  # seconds per address


def web_links(template: Template) -> list[str]:
    """Return every address under base_url that the email links or loads, in order, once.

    The web version ("Visa i webbläsare"), images and calendar files all live in the
    published archive; if it is not online yet, the email arrives with broken links.
    """
    base = template.site.base_url + "/"
    found = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", template.html)
    urls = (html.unescape(u).strip() for u in found)
    return list(dict.fromkeys(u for u in urls if u.startswith(base) or u == base[:-1]))


def check_web(urls: list[str], timeout: float = WEB_TIMEOUT) -> list[str]:
    """Return "URL: why" for each address that does not answer 200 (after redirects).

    The standard library's HTTP client is enough for a handful of GET requests, verifies
    TLS certificates by default and adds no dependency; the body is never read.
    """
    import concurrent.futures

    def fetch(url: str) -> str:
        status = http_status(url, timeout, "nyhetsbrev-send")
        if isinstance(status, str):
            return f"{url}: svarar inte ({status})"
        return "" if status == 200 else f"{url}: svarade {status}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return [r for r in pool.map(fetch, urls) if r]


def http_status(url: str, timeout: float, agent: str) -> int | str:
    """Return the HTTP status a GET of url answers, or why nothing answered (the body unread)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError, ValueError) as e:
        return str(getattr(e, "reason", e))


def web_refusal(template: Template) -> str:
    """Return why the email's links would be broken now, in Swedish ("" when they work)."""
    links = web_links(template)
    failures = check_web(links)
    return web_problem(template.site, failures, len(links)) if failures else ""


def web_problem(site: Site, failures: list[str], total: int) -> str:
    """Return the refusal of a list send whose web version is not online, in Swedish."""
    listed = "\n".join(f"  {f}" for f in failures)
    return (
        f"webbversionen av numret är inte publicerad: {_words(len(failures))} av "
        f"{_words(total)} adresser under {site.base_url} som brevet länkar till svarar inte "
        f"med 200 (OK):\n{listed}\n"
        'Brevets bilder, länken "Visa i webbläsare" och kalenderfilerna pekar dit. Publicera '
        "public/ från build först, eller skicka ändå med --skip-web-check"
    )
