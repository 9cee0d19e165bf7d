"""The `subscribers` commands as functions: list, import, export, extract, erase and purge.

Each returns values or Swedish lines for the command line to print; none prints itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nyhetsbrev import database, urls
from nyhetsbrev.content.load import relative
from nyhetsbrev.content.models import Site, Subscriptions
from nyhetsbrev.csvout import to_csv
from nyhetsbrev.errors import NyhetsbrevError, Problem
from nyhetsbrev.numerals import counted
from nyhetsbrev.subscriptions import register as reg
from nyhetsbrev.subscriptions import tokens
from nyhetsbrev.subscriptions.recipients import Recipient, read_list, read_suppression

FORM_SOURCE = "formulär"
SUPPRESSION_SOURCE = "avregistreringslistan"
# Cells that a spreadsheet would run as a formula (CSV injection).


class RegisterError(NyhetsbrevError):
    """The register cannot be used (not set up, unreadable)."""


def settings(site: Site) -> Subscriptions:
    """Return [subscriptions]; raise a Swedish error naming what to add when it is missing."""
    if site.subscriptions is None:
        raise RegisterError(
            "newsletter.toml:1: [subscriptions] saknas; lägg till url (tjänstens publika adress) "
            "och en [privacy]-tabell med controller, contact, legal_basis och retention (se README)"
        )
    return site.subscriptions


def notice_version(text: str) -> str:
    """Return the version of an information text: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def open_register(site: Site) -> reg.Register:
    """Open the register, turning an unreadable file into a user error."""
    path = settings(site).database
    try:
        return reg.Register(path)
    except sqlite3.Error as e:
        raise RegisterError(
            f"{_relative(site, path)}: registret kan inte läsas eller skrivas "
            f"({database.reason(e)})"
        ) from None


def _relative(site: Site, path: Path) -> str:
    return relative(site.root.resolve(), path)


# Commands


def list_lines(site: Site, status: str | None) -> list[str]:
    """Return one line per subscriber: address, status, name, source."""
    with open_register(site) as book:
        return [
            "\t".join((s.address, s.status, s.name, s.source)).rstrip() for s in book.all(status)
        ]


def export(site: Site) -> bytes:
    """Return every subscriber as CSV (email;name;status;source;created;updated)."""
    with open_register(site) as book:
        rows = [[s.address, s.name, s.status, s.source, s.created, s.updated] for s in book.all()]
    return to_csv(["email", "name", "status", "source", "created", "updated"], rows)


@dataclass
class ImportReport:
    added: int
    known: int
    refused: list[Recipient]
    problems: list[Problem]


def import_file(site: Site, key: bytes, path: Path, shown: str) -> ImportReport:
    """Add the list's valid addresses as active (source: the file); skip known and erased ones."""
    recipients, problems = read_list(path, shown)
    with open_register(site) as book:
        import_suppression(site, key, book)
        result = book.add(
            [(r.address, r.name) for r in recipients],
            f"fil {shown}",
            [tokens.keyed_hash(key, r.address) for r in recipients],
        )
    refused = [r for r in recipients if r.address in set(result.refused)]
    problems += [
        Problem(
            shown,
            r.line,
            f'"{r.address}" har raderats ur registret på begäran och importeras inte igen; '
            "ta bort raden ur filen (vill personen ha nyhetsbrevet får den anmäla sig själv)",
        )
        for r in refused
    ]
    return ImportReport(len(result.added), len(result.known), refused, problems)


def import_lines(report: ImportReport, shown: str) -> list[str]:
    return [
        f"Importerade från {shown}: {counted(report.added, 'ny', 'nya')}, {report.known} fanns "
        "redan (deras status ändras inte), "
        f"{counted(len(report.refused), 'raderad vägrades', 'raderade vägrades')}"
    ]


def import_suppression(site: Site, key: bytes, book: reg.Register) -> int:
    """Import the old suppression CSV as unsubscribed, once per version of the file."""
    if site.suppression is None or not site.suppression.is_file():
        return 0
    digest = hashlib.sha256(site.suppression.read_bytes()).hexdigest()
    meta_key = f"suppression:{_relative(site, site.suppression)}"
    if book.meta(meta_key) == digest:
        return 0
    shown = _relative(site, site.suppression)
    addresses = sorted(
        a for a in read_suppression(site.suppression, shown) if "@" in a and "\n" not in a
    )
    return book.suppress(addresses, f"{SUPPRESSION_SOURCE} {shown}", meta_key, digest)


def _ledger_rows(site: Site, address: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    path = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
    if not path.is_file():
        return [], []
    db = sqlite3.connect(path, timeout=30)
    try:
        sends = list(
            db.execute(
                "SELECT issue, state, reply, message_id, attempts, updated FROM sends "
                "WHERE address = ? ORDER BY issue",
                (address,),
            )
        )
        tests = list(
            db.execute(
                "SELECT issue, reply, time FROM test_sends WHERE address = ? ORDER BY rowid",
                (address,),
            )
        )
    except sqlite3.OperationalError:
        return [], []
    finally:
        db.close()
    return sends, tests


def extract(site: Site, address: str) -> list[str]:
    """Return the register extract (GDPR art. 15): everything held about the address."""
    with open_register(site) as book:
        found = book.find(address)
        events = book.events(found.id) if found else []
        texts = {e.notice: book.notice(e.notice) for e in events if e.notice}
    sends, tests = _ledger_rows(site, address)
    if found is None and not sends and not tests:
        return [f"{address}: finns inte i registret eller i utskicksliggaren"]
    lines = [f"Registerutdrag för {address}"]
    if found:
        lines += [
            f"  namn: {found.name or '(inget)'}",
            f"  status: {found.status}",
            f"  källa: {found.source}",
            f"  registrerad: {found.created}",
            f"  senast ändrad: {found.updated}",
            "Händelser (tid i UTC):",
        ]
        lines += [
            f"  {e.time} {e.action} via {e.how}"
            + (f" (informationstext version {e.notice})" if e.notice else "")
            for e in events
        ]
        for version, text in texts.items():
            lines.append(f"Informationstext version {version}: {text}")
    else:
        lines.append("  finns inte i prenumerantregistret")
    lines.append("Utskick enligt liggaren:")
    lines += [
        f"  {issue}: {state} {updated} ({attempts} försök, svar: {reply or '-'}, "
        f"Message-ID {message_id or '-'})"
        for issue, state, reply, message_id, attempts, updated in sends
    ] or ["  inga"]
    if tests:
        lines.append("Testbrev:")
        lines += [f"  {issue}: {time} ({reply})" for issue, reply, time in tests]
    returned = _feedback_rows(site, address)
    if returned:
        lines.append("Studsar och klagomål (tid i UTC):")
        lines += [
            f"  {issue}: {FEEDBACK_WORDS.get(kind, kind)} {received}"
            + (
                f" ({', '.join(x for x in (status, diagnostic) if x)})"
                if status or diagnostic
                else ""
            )
            for issue, kind, status, diagnostic, received in returned
        ]
    return lines


FEEDBACK_WORDS = {"hard": "hård studs", "soft": "tillfällig studs", "complaint": "klagomål"}


def _feedback_rows(site: Site, address: str) -> list[tuple[Any, ...]]:
    """Return the address's returned mail kept in the ledger (see `bounces`)."""
    path = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
    if not path.is_file():
        return []
    db = sqlite3.connect(path, timeout=30)
    try:
        return list(
            db.execute(
                "SELECT issue, kind, status, diagnostic, received FROM feedback "
                "WHERE address = ? ORDER BY received",
                (address,),
            )
        )
    except sqlite3.OperationalError:  # a ledger from before returned mail was read
        return []
    finally:
        db.close()


def erase(site: Site, key: bytes, address: str) -> list[str]:
    """Erase the address (GDPR art. 17) from the register and the ledger; say what is kept."""
    hashed = tokens.keyed_hash(key, address)
    with open_register(site) as book:
        had = book.erase(address, hashed)
    sends, tests = _ledger_rows(site, address)
    returned = _feedback_rows(site, address)
    if sends or tests or returned:
        path = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA secure_delete=ON")
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE sends SET address = ?, reply = '', message_id = '' WHERE address = ?",
                (f"raderad-{hashed[:32]}", address),
            )
            db.execute("DELETE FROM test_sends WHERE address = ?", (address,))
            if returned:  # kept without address or diagnostic, so the counts still hold
                db.execute(
                    "UPDATE feedback SET address = ?, diagnostic = '' WHERE address = ?",
                    (f"raderad-{hashed[:32]}", address),
                )
            db.execute("COMMIT")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    if not had and not sends and not tests:
        return [
            f"{address} fanns inte i registret eller liggaren; adressen är ändå spärrad mot "
            "import från listfiler"
        ]
    return [
        f"{address} är raderad: uppgifterna i prenumerantregistret "
        f"({'adress, namn, status och händelser' if had else 'inga'}) och adressen i "
        f"{_n(len(sends), 'rad', 'rader')} i utskicksliggaren och "
        f"{_n(len(tests), 'testbrev', 'testbrev')}.",
        "Kvar finns en nyckelad kontrollsumma (HMAC-SHA256) av adressen, så att den inte "
        "importeras igen av misstag från en listfil; utan nyckeln går den inte att läsa "
        "tillbaka till adressen.",
        "Liggarens rader för numren finns kvar utan adress, så att antalet skickade brev i "
        "årsrapporten stämmer.",
    ]


def purge(site: Site) -> list[str]:
    """Delete expired pending sign-ups and ledger rows older than [sending] keep_days."""
    import datetime as dt

    config = settings(site)
    with open_register(site) as book:
        expired = book.purge(config.pending_days)
    removed = 0
    path = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
    if path.is_file():
        limit = (dt.datetime.now(dt.UTC) - dt.timedelta(days=site.keep_days)).replace(microsecond=0)
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            removed = db.execute(
                "DELETE FROM sends WHERE updated < ? AND state = 'sent'", (limit.isoformat(),)
            ).rowcount
            removed += db.execute(
                "DELETE FROM test_sends WHERE time < ?", (limit.isoformat(),)
            ).rowcount
            with contextlib.suppress(sqlite3.OperationalError):  # no returned mail read yet
                db.execute("DELETE FROM feedback WHERE received < ?", (limit.isoformat(),))
        finally:
            db.close()
    return [
        f"Rensat: {_n(expired, 'obekräftad anmälan', 'obekräftade anmälningar')} äldre än "
        f"{config.pending_days} dagar, {_n(removed, 'rad', 'rader')} i utskicksliggaren äldre "
        f"än {site.keep_days} dagar"
    ]


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


# Sending to the register


def unsubscribe_link(site: Site, key: bytes, subscriber: str) -> str:
    """Return the subscriber's personal unsubscribe URL: <url>/avsluta/<token>."""
    token = tokens.make(key, tokens.UNSUBSCRIBE, subscriber)
    return urls.service_url(settings(site).url, urls.UNSUBSCRIBE, token)


def test_link(site: Site, key: bytes, address: str) -> str:
    """Return the unsubscribe URL a test message to this address carries.

    A subscriber gets their own link, so a coordinator on the list can try it; anyone else
    the sign-up page's address. Neither holds the address itself.
    """
    with open_register(site) as book:
        found = book.find(address)
    if found is not None:
        return unsubscribe_link(site, key, found.id)
    return f"{settings(site).url}/"


@dataclass
class Audience:
    """Who a list send goes to, by the register: planned recipients and their links."""

    recipients: list[Recipient]
    problems: list[Problem]
    ids: dict[str, str]  # address -> subscriber id
    not_active: set[str]  # in the list but unsubscribed, bounced or pending in the register


def audience(site: Site, key: bytes, list_file: Path | None, shown: str, write: bool) -> Audience:
    """Return the recipients of a list send from the register.

    With a list file its addresses are imported first (write=False: only as a dry run
    would), so they get working unsubscribe links; without one, every active subscriber.
    """
    with open_register(site) as book:
        if write:
            import_suppression(site, key, book)
        problems: list[Problem] = []
        if list_file is not None:
            if write:
                report = import_file(site, key, list_file, shown)
                problems = report.problems
                recipients = [r for r in read_list(list_file, shown)[0] if r not in report.refused]
            else:
                recipients, problems = read_list(list_file, shown)
                recipients = [
                    r
                    for r in recipients
                    if book.find(r.address) or not book.is_erased(tokens.keyed_hash(key, r.address))
                ]
        else:
            recipients = [Recipient(s.address, s.name, 0) for s in book.all(reg.ACTIVE)]
        known = {s.address: s for s in book.all()}
    ids = {a: s.id for a, s in known.items()}
    not_active = {r.address for r in recipients if r.address in known} - {
        a for a, s in known.items() if s.status == reg.ACTIVE
    }
    return Audience(recipients, problems, ids, not_active)


class StillActive:
    """Asks the register, message by message, whether an address still wants the issue."""

    def __init__(self, site: Site):
        self.book = open_register(site)

    def __call__(self, address: str) -> bool:
        return self.book.is_active(address)

    def close(self) -> None:
        self.book.close()
