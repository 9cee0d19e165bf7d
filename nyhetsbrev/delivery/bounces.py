"""Returned mail: bounces (RFC 3464 and common other formats) and complaints (ARF, RFC 5965).

Each returned message is matched to the ledger row it answers, by the per-recipient return
path `send` sets (`studs+<token>@example.se`, see send.return_path) or by the Message-ID of
the original message it quotes. A hard bounce marks the address bounced in the register at
once; soft bounces are counted and mark it after `[bounces] soft_limit` within `soft_days`;
a complaint unsubscribes it. The evidence (status code, diagnostic, the returned message's
Message-ID) is kept with the ledger row, once: reading the same mailbox again changes
nothing. Mail that is not recognised (auto-replies, anything else) is never changed, moved
or deleted; in fact no mail is.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import imaplib
import mailbox
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from flufl.bounce import all_failures

from nyhetsbrev.build.publish import replace_file
from nyhetsbrev.content.models import Bounces, Site
from nyhetsbrev.delivery import ledger as ledgers
from nyhetsbrev.errors import NyhetsbrevError

PASSWORD_ENV = "NYHETSBREV_BOUNCES_PASSWORD"
HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"
STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
MESSAGE_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
AUTO_SUBJECT = re.compile(
    r"^\s*(autosvar|automatiskt svar|automatic reply|auto[- ]?reply|out of (the )?office|"
    r"frånvaro|semester)",
    re.IGNORECASE,
)


class BounceError(NyhetsbrevError):
    """Returned mail cannot be read (no such folder, IMAP refused)."""


@dataclass(frozen=True)
class Finding:
    """One failed or complained-about recipient, as the returned message states it."""

    kind: str  # hard, soft or complaint
    address: str  # the original recipient named in the report ("" when it names none)
    status: str = ""  # e.g. "5.1.1"
    diagnostic: str = ""  # e.g. "smtp; 550 5.1.1 <a@b>: Recipient address rejected"


@dataclass
class Outcome:
    """What reading one returned message did."""

    label: str  # where the message was, for the report
    findings: list[Finding]
    row: ledgers.Row | None = None
    new: bool = False  # first time this message was read
    marked: str = ""  # the register status it set ("" when none)


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)  # not returned mail, left as it was
    unmatched: list[Outcome] = field(default_factory=list)  # returned mail for no ledger row


# --- reading a returned message ---------------------------------------------------------


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def is_auto_reply(msg: Message) -> bool:
    """Return whether the message is an out-of-office or other automatic reply (RFC 3834)."""
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if auto.startswith("auto-replied"):
        return True
    if any(msg.get(h) for h in ("X-Autoreply", "X-Autorespond")):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(AUTO_SUBJECT.match(str(msg.get("Subject", ""))))


def classify(msg: Message) -> list[Finding]:
    """Return what the message reports: complaints, or bounced recipients; [] for other mail."""
    if _complaint(msg):
        return _complaints(msg)
    if findings := _dsn(msg):
        return findings
    if is_auto_reply(msg):  # after the DSN: mail servers mark their reports auto-replied too
        return []
    return _other_formats(msg)


def _complaint(msg: Message) -> bool:
    if msg.get_content_type() == "multipart/report":
        if str(msg.get_param("report-type", "")).lower() == "feedback-report":
            return True
    return any(p.get_content_type() == "message/feedback-report" for p in msg.walk())


def _complaints(msg: Message) -> list[Finding]:
    """Return the complaint of an ARF report (RFC 5965) with the recipient it names."""
    fields: dict[str, str] = {}
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            fields = _fields(part)
    address = _address(fields.get("original-rcpt-to", ""))
    if not address:
        original = _original(msg)
        address = _address(str(original.get("To", ""))) if original is not None else ""
    kind = fields.get("feedback-type", "abuse")
    return [Finding(COMPLAINT, address, "", f"feedback-type: {kind}")]


def _fields(part: Message) -> dict[str, str]:
    """Return the lower-cased fields of a machine-readable report part."""
    payload = part.get_payload()
    blocks = _blocks(payload) if isinstance(payload, list) else [parse(_bytes(part))]
    found: dict[str, str] = {}
    for block in blocks:
        for key, value in block.items():
            found.setdefault(key.lower(), _one_line(str(value)))
    return found


def _blocks(payload: list[Any]) -> list[Message]:
    return [b for b in payload if isinstance(b, Message)]


def _bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    return str(part.get_payload()).encode("utf-8", "replace")


def _dsn(msg: Message) -> list[Finding]:
    """Return the failed and delayed recipients of a delivery status notification (RFC 3464)."""
    findings = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = _blocks(payload) if isinstance(payload, list) else []
        for block in blocks[1:]:  # the first block is about the message, the rest recipients
            action = str(block.get("Action", "")).strip().lower()
            status = _status(str(block.get("Status", "")))
            if action not in ("failed", "delayed"):
                continue
            address = _address(str(block.get("Final-Recipient", ""))) or _address(
                str(block.get("Original-Recipient", ""))
            )
            hard = action == "failed" and status.startswith("5")
            diagnostic = _one_line(str(block.get("Diagnostic-Code", "")))
            findings.append(Finding(HARD if hard else SOFT, address, status, diagnostic))
    return findings


def _other_formats(msg: Message) -> list[Finding]:
    """Return bounced recipients in the other formats that flufl.bounce knows."""
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return []
    text = _text(msg)
    status_match = STATUS_CODE.search(text)
    status = status_match.group(1) if status_match else ""
    diagnostic = ""
    if status_match:
        start = text.rfind("\n", 0, status_match.start()) + 1
        end = text.find("\n", status_match.end())
        diagnostic = _one_line(text[start : end if end >= 0 else None])
    findings = [
        Finding(HARD, a.decode("ascii", "replace").lower(), status, diagnostic) for a in permanent
    ]
    findings += [
        Finding(SOFT, a.decode("ascii", "replace").lower(), status, diagnostic)
        for a in temporary
        if a not in permanent
    ]
    return sorted(findings, key=lambda f: (f.kind, f.address))


def _text(msg: Message) -> str:
    """Return the message's text parts (not the quoted original) as one string."""
    parts = []
    for part in msg.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break
        if part.get_content_maintype() == "text":
            parts.append(_bytes(part).decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def _original(msg: Message) -> Message | None:
    """Return the original message (or its headers) that the report quotes."""
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and _blocks(payload):
                return _blocks(payload)[0]
        if part.get_content_type() == "text/rfc822-headers":
            return parse(_bytes(part))
    return None


def _status(value: str) -> str:
    found = STATUS_CODE.search(value)
    return found.group(1) if found else ""


def _address(value: str) -> str:
    """Return the address in "rfc822; a@b", "<a@b>" or "Name <a@b>", lower-cased."""
    value = value.split(";", 1)[-1] if ";" in value else value
    found = re.search(r"[^\s<>;\"']+@[^\s<>;\"']+", value)
    return found.group().lower().rstrip(".") if found else ""


def _one_line(value: str) -> str:
    return " ".join(value.split())[:500]


# --- matching and recording -------------------------------------------------------------


def tokens(raw: bytes, bounces: Bounces | None) -> list[str]:
    """Return the return-path tokens in a message (from studs+<token>@example.se)."""
    if bounces is None:
        return []
    local, domain = bounces.address.split("@", 1)
    pattern = re.compile(
        rf"{re.escape(local)}\+([0-9a-f]{{20}})@{re.escape(domain)}".encode(), re.IGNORECASE
    )
    return list(dict.fromkeys(m.group(1).decode().lower() for m in pattern.finditer(raw)))


def message_ids(raw: bytes) -> list[str]:
    """Return the Message-IDs quoted in the body (the original's, among others)."""
    body = raw.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[-1]
    text = body.decode("utf-8", "replace")
    return list(dict.fromkeys(MESSAGE_ID.findall(text)))


def evidence(msg: Message, raw: bytes) -> str:
    """Return what names a returned message: its Message-ID, else a hash of its bytes."""
    found = MESSAGE_ID.search(str(msg.get("Message-ID", "")))
    return found.group() if found else "sha256:" + hashlib.sha256(raw).hexdigest()


def match(book: ledgers.Ledger, raw: bytes, bounces: Bounces | None) -> ledgers.Row | None:
    """Return the ledger row the returned message answers (None when it answers none)."""
    for token in tokens(raw, bounces):
        if (row := book.by_token(token)) is not None:
            return row
    for mid in message_ids(raw):
        if (row := book.by_message_id(mid)) is not None:
            return row
    return None


def read(
    site: Site,
    messages: Iterator[tuple[str, bytes]],
    book: ledgers.Ledger,
    when: dt.datetime | None = None,
) -> Summary:
    """Read returned messages, keep what they report with their rows and update the register."""
    summary = Summary()
    settings = site.bounces or Bounces(address="")
    for label, raw in messages:
        msg = parse(raw)
        findings = classify(msg)
        if not findings:
            summary.untouched.append(label)
            continue
        outcome = Outcome(label, findings)
        outcome.row = match(book, raw, site.bounces if site.bounces else None)
        if outcome.row is None:
            summary.unmatched.append(outcome)
            continue
        row = outcome.row
        # A message reports one recipient for us: the row's; the strongest finding counts.
        finding = min(findings, key=lambda f: (f.kind != COMPLAINT, f.kind != HARD))
        outcome.findings = [finding]
        outcome.new = book.record_feedback(
            row, finding.kind, finding.status, finding.diagnostic, evidence(msg, raw)
        )
        if outcome.new:
            outcome.marked = _mark(site, book, row, finding, settings, when)
        summary.outcomes.append(outcome)
    return summary


def _mark(
    site: Site,
    book: ledgers.Ledger,
    row: ledgers.Row,
    finding: Finding,
    settings: Bounces,
    when: dt.datetime | None,
) -> str:
    """Change the address's status in the register as the finding asks; return the status."""
    from nyhetsbrev.subscriptions import register as reg

    if finding.kind == SOFT:
        since = (when or dt.datetime.now(dt.UTC)) - dt.timedelta(days=settings.soft_days)
        if book.soft_bounces(row.address, since.replace(microsecond=0).isoformat()) < (
            settings.soft_limit
        ):
            return ""
    status = reg.UNSUBSCRIBED if finding.kind == COMPLAINT else reg.BOUNCED
    if site.subscriptions is None:  # no register: the suppression list the send honours
        if site.suppression is None or not suppress(site.suppression, row.address):
            return ""
        return SUPPRESSED
    from nyhetsbrev.subscriptions.subscribers import open_register

    what = {
        HARD: f"studs {finding.status}".strip(),
        SOFT: f"{settings.soft_limit} tillfälliga studsar på {settings.soft_days} dagar",
        COMPLAINT: "anmälde brevet som skräppost",
    }[finding.kind]
    with open_register(site) as register:
        found = register.find(row.address)
        if found is None or found.status in (reg.UNSUBSCRIBED, status):
            return ""
        register.set_status(row.address, status, f"{what} (nummer {row.issue})")
    return status


SUPPRESSED = "suppressed"


def suppress(path: Path, address: str) -> bool:
    """Add the address to the suppression CSV (its own delimiter and line ending); return
    False when it is there already. The file is replaced in one step."""
    import csv
    import io

    from nyhetsbrev.subscriptions.recipients import read_suppression

    raw = path.read_bytes() if path.is_file() else b""
    if raw and address in read_suppression(path, path.name):
        return False
    text = raw.decode("utf-8-sig")
    newline = "\r\n" if "\r\n" in text else "\n"
    if not text.strip():
        addition = f"email{newline}{address}{newline}"
    else:
        header = text.split("\n", 1)[0]
        delimiter = ";" if header.count(";") > header.count(",") else ","
        columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
        cells = [""] * len(columns)
        cells[columns.index("email")] = address
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=newline).writerow(cells)
        addition = ("" if text.endswith("\n") else newline) + out.getvalue()
    replace_file(path, raw + addition.encode("utf-8"), None if path.exists() else 0o600)
    return True


# --- where returned mail is read from ---------------------------------------------------


def read_returned(site: Site, maildir: Path | None, mbox: Path | None) -> Summary:
    """Read returned mail from a Maildir, an mbox file or else [bounces]' IMAP mailbox, and
    record it in the ledger and the register."""
    from nyhetsbrev.delivery.send import ledger_errors, ledger_path

    if maildir is not None:
        messages = from_maildir(maildir)
    elif mbox is not None:
        messages = from_mbox(mbox)
    else:
        if site.bounces is None:
            raise BounceError(
                "newsletter.toml: [bounces] saknas; ange address och host för IMAP-brevlådan "
                "(se README), eller läs en mapp med --maildir eller en fil med --mbox"
            )
        messages = from_imap(site.bounces, imap_password(site.bounces))
    path = ledger_path(site)
    if not path.is_file():
        raise BounceError(
            f"{path}: utskicksregistret finns inte; inget utskick har gjorts att matcha mot"
        )
    with ledger_errors(site), ledgers.Ledger(path) as book:
        return read(site, messages, book)


def from_maildir(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (label, bytes) of each message in a Maildir; nothing is moved or flagged."""
    if not (path / "cur").is_dir() and not (path / "new").is_dir():
        raise BounceError(f"{path}: ingen Maildir-mapp (den ska ha undermapparna cur och new)")
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):
        yield f"{path}/{key}", box.get_bytes(key)


def from_mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (label, bytes) of each message in an mbox file, numbered from one."""
    if not path.is_file():
        raise BounceError(f"{path}: filen finns inte")
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.keys(), 1):
            yield f"{path}:{number}", box.get_bytes(key)
    finally:
        box.close()


def from_imap(
    settings: Bounces, password: str, timeout: float = 30.0
) -> Iterator[tuple[str, bytes]]:
    """Yield (label, bytes) of each message in the IMAP mailbox, read-only (EXAMINE, PEEK)."""
    where = f"{settings.host}:{settings.port}"
    try:
        client: imaplib.IMAP4
        if settings.security == "tls":
            client = imaplib.IMAP4_SSL(
                settings.host,
                settings.port,
                ssl_context=ssl.create_default_context(),
                timeout=timeout,
            )
        else:
            client = imaplib.IMAP4(settings.host, settings.port, timeout=timeout)
            if settings.security == "starttls":
                client.starttls(ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as e:
        raise BounceError(
            f"{where}: kunde inte ansluta till IMAP-servern ({e}); kontrollera "
            "[bounces] host, port och security"
        ) from None
    try:
        try:
            if (settings.user + password).isascii():
                client.login(settings.user, password)
            else:  # LOGIN is ASCII only; AUTHENTICATE PLAIN carries UTF-8 (RFC 4616)
                plain = f"\0{settings.user}\0{password}".encode()
                client.authenticate("PLAIN", lambda challenge: plain)
        except imaplib.IMAP4.error as e:
            raise BounceError(
                f'{where}: inloggningen som "{settings.user}" nekades ({_imap_text(e)}); '
                f"kontrollera [bounces] user och {PASSWORD_ENV}"
            ) from None
        kind, data = client.select(_quoted(settings.mailbox), readonly=True)
        if kind != "OK":
            raise BounceError(
                f'{where}: brevlådan "{settings.mailbox}" finns inte; kontrollera [bounces] mailbox'
            )
        kind, data = client.uid("SEARCH", "ALL")
        uids = data[0].split() if kind == "OK" and data and data[0] else []
        for uid in (u.decode() for u in uids):
            kind, fetched = client.uid("FETCH", uid, "(BODY.PEEK[])")
            for item in fetched:
                if isinstance(item, tuple):
                    yield f"{settings.mailbox} UID {uid}", item[1]
    except (OSError, imaplib.IMAP4.error) as e:
        raise BounceError(f"{where}: IMAP-servern svarade inte som väntat ({e})") from None
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_text(e: Exception) -> str:
    text = str(e)
    return text[2:-1] if text.startswith("b'") else text


def imap_password(settings: Bounces) -> str:
    """Return the IMAP password from the environment; raise a Swedish error without one."""
    import os

    if not settings.host:
        raise BounceError(
            "newsletter.toml: [bounces] host saknas; ange IMAP-servern där studsarna hamnar, "
            "eller läs en mapp med --maildir eller en fil med --mbox"
        )
    from nyhetsbrev.delivery.send import is_loopback

    if settings.security == "none" and not is_loopback(settings.host):
        raise BounceError(
            f'newsletter.toml: [bounces] security = "none" skulle skicka lösenordet okrypterat '
            f'till {settings.host}; använd "tls" (port 993) eller "starttls" (port 143)'
        )
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise BounceError(
            f"miljövariabeln {PASSWORD_ENV} är inte satt; sätt lösenordet till "
            "studsbrevlådan i skalet (aldrig i newsletter.toml)"
        )
    return password


# --- what the command prints --------------------------------------------------------------

KIND_WORDS = {HARD: "hård studs", SOFT: "tillfällig studs", COMPLAINT: "klagomål"}
MARK_WORDS = {
    "bounced": "markerad som studsad",
    "unsubscribed": "avregistrerad",
    SUPPRESSED: "tillagd i avregistreringslistan",
}


def lines(summary: Summary) -> list[str]:
    """Return what was read and done, in Swedish: one line per returned message, then totals."""
    out = []
    for o in summary.outcomes:
        assert o.row is not None
        f = o.findings[0]
        detail = ", ".join(x for x in (f.status, f.diagnostic) if x)
        line = f"{o.row.issue}: {o.row.address}: {KIND_WORDS[f.kind]}" + (
            f" ({detail})" if detail else ""
        )
        if not o.new:
            line += ", redan inläst"
        elif o.marked:
            line += f", {MARK_WORDS[o.marked]}"
        out.append(line)
    for o in summary.unmatched:
        who = ", ".join(f.address for f in o.findings if f.address) or "okänd mottagare"
        out.append(
            f"{o.label}: {KIND_WORDS[o.findings[0].kind]} för {who}, men inget utskick "
            "i utskicksregistret passar; lämnad orörd"
        )
    new = [o for o in summary.outcomes if o.new]
    count = {k: sum(o.findings[0].kind == k for o in new) for k in KIND_WORDS}
    total = len(summary.outcomes) + len(summary.untouched) + len(summary.unmatched)
    out.append(
        f"Läste {total} brev: {_n(count[HARD], 'ny hård studs', 'nya hårda studsar')}, "
        f"{_n(count[SOFT], 'ny tillfällig studs', 'nya tillfälliga studsar')}, "
        f"{_n(count[COMPLAINT], 'nytt klagomål', 'nya klagomål')}, "
        f"{len(summary.outcomes) - len(new)} redan inlästa; "
        f"{len(summary.untouched) + len(summary.unmatched)} lämnades orörda "
        "(inte studsar, eller svar på okända utskick)"
    )
    return out


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
