"""The register of recipients: one SQLite file that the service writes and `send` reads.

Every subscriber has a random id (the only thing a token names), an address (lower-cased,
ASCII domain: the same key as the send ledger), a status and the evidence the authority must
be able to show: an event row for every sign-up, confirmation, import and unsubscribe, with
the time, how it happened and which version of the information text was shown (the texts
themselves are kept in `notices`). An erased address leaves only a keyed hash in
`erased`, so a list file cannot bring it back by mistake.

WAL mode, synchronous=FULL and one `BEGIN IMMEDIATE` transaction per state change: a
request that was answered is on disk, and a process killed in the middle leaves either all of
a change or none of it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nyhetsbrev import database

PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED = "pending", "active", "unsubscribed", "bounced"
STATUSES = (PENDING, ACTIVE, UNSUBSCRIBED, BOUNCED)
CONFIRMATION_INTERVAL = dt.timedelta(hours=1)  # at most one confirmation mail per address

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscribers (
    id           TEXT PRIMARY KEY,              -- 32 random hex digits, named by tokens
    address      TEXT NOT NULL UNIQUE,          -- lower-cased, ASCII (punycode) domain
    name         TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bounced')),
    source       TEXT NOT NULL,                 -- 'formulär' or the list file it came from
    created      TEXT NOT NULL,                 -- UTC, ISO 8601
    updated      TEXT NOT NULL,
    nonce        TEXT NOT NULL DEFAULT '',      -- the open sign-up's; '' when none is open
    signed_up    TEXT NOT NULL DEFAULT '',      -- when the open sign-up was made
    pending_name TEXT NOT NULL DEFAULT '',      -- the name given with the open sign-up
    mailed       TEXT NOT NULL DEFAULT ''       -- last confirmation mail queued
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    time       TEXT NOT NULL,
    action     TEXT NOT NULL,   -- anmälan, bekräftelse, import, avregistrering, ...
    how        TEXT NOT NULL,   -- formuläret, bekräftelselänken, ett klick i e-postprogrammet, ...
    notice     TEXT NOT NULL DEFAULT ''  -- version of the information text shown
);
CREATE INDEX IF NOT EXISTS events_subscriber ON events (subscriber);
CREATE TABLE IF NOT EXISTS notices (
    version TEXT PRIMARY KEY,
    text    TEXT NOT NULL,
    first   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber TEXT NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    queued     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erased (
    hash TEXT PRIMARY KEY,      -- keyed hash of the address (HMAC-SHA256)
    time TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def stamp(when: dt.datetime | None = None) -> str:
    return (when or now()).isoformat()


@dataclass(frozen=True)
class Subscriber:
    id: str
    address: str
    name: str
    status: str
    source: str
    created: str
    updated: str
    nonce: str
    signed_up: str
    pending_name: str
    mailed: str


COLUMNS = (
    "id, address, name, status, source, created, updated, nonce, signed_up, pending_name, mailed"
)


@dataclass(frozen=True)
class Event:
    time: str
    action: str
    how: str
    notice: str


@dataclass(frozen=True)
class Signup:
    """The outcome of a sign-up: whether a confirmation mail was queued."""

    subscriber: str
    mailed: bool


@dataclass
class Imported:
    added: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # erased before


class Register:
    """An open register file; every change is committed before the method returns."""

    def __init__(self, path: Path):
        self.path = path
        self.db = database.connect(
            path,
            "foreign_keys=ON",
            "secure_delete=ON",  # erased data is overwritten, not left free
            "busy_timeout=30000",
            check_same_thread=False,
        )
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database.transaction(self.db)

    # reading

    def get(self, subscriber: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM subscribers WHERE id = ?", (subscriber,)
        ).fetchone()
        return Subscriber(*row) if row else None

    def _insert(self, address: str, name: str, status: str, source: str, moment: str) -> str:
        """Add a subscriber row created and updated at moment; return its new id."""
        subscriber = secrets.token_hex(16)
        self.db.execute(
            "INSERT INTO subscribers (id, address, name, status, source, created, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (subscriber, address, name, status, source, moment, moment),
        )
        return subscriber

    def find(self, address: str) -> Subscriber | None:
        row = self.db.execute(
            f"SELECT {COLUMNS} FROM subscribers WHERE address = ?", (address,)
        ).fetchone()
        return Subscriber(*row) if row else None

    def all(self, status: str | None = None) -> list[Subscriber]:
        query = f"SELECT {COLUMNS} FROM subscribers"
        args: tuple[str, ...] = ()
        if status:
            query += " WHERE status = ?"
            args = (status,)
        return [Subscriber(*r) for r in self.db.execute(query + " ORDER BY address", args)]

    def is_active(self, address: str) -> bool:
        row = self.db.execute(
            "SELECT status FROM subscribers WHERE address = ?", (address,)
        ).fetchone()
        return bool(row) and row[0] == ACTIVE

    def events(self, subscriber: str) -> list[Event]:
        return [
            Event(*r)
            for r in self.db.execute(
                "SELECT time, action, how, notice FROM events WHERE subscriber = ? ORDER BY seq",
                (subscriber,),
            )
        ]

    def notice(self, version: str) -> str:
        row = self.db.execute("SELECT text FROM notices WHERE version = ?", (version,)).fetchone()
        return row[0] if row else ""

    def is_erased(self, hashed: str) -> bool:
        return bool(self.db.execute("SELECT 1 FROM erased WHERE hash = ?", (hashed,)).fetchone())

    def meta(self, key: str) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for status, n in self.db.execute(
            "SELECT status, COUNT(*) FROM subscribers GROUP BY status"
        ):
            counts[status] = n
        return counts

    # changing

    def _event(self, subscriber: str, action: str, how: str, notice: str = "") -> None:
        self.db.execute(
            "INSERT INTO events (subscriber, time, action, how, notice) VALUES (?, ?, ?, ?, ?)",
            (subscriber, stamp(), action, how, notice),
        )

    def remember_notice(self, version: str, text: str) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO notices VALUES (?, ?, ?)", (version, text, stamp())
            )

    def signup(self, address: str, name: str, notice: str) -> Signup:
        """Record a sign-up from the form and queue a confirmation mail (one per hour at most).

        An active subscriber stays active and gets no mail; anyone else gets a new sign-up
        nonce, but their status only changes when they confirm.
        """
        moment = now()
        with self.transaction():
            found = self.find(address)
            if found is None:
                subscriber = self._insert(address, "", PENDING, "formulär", stamp(moment))
                mailed = ""
                status = PENDING
            else:
                subscriber, mailed, status = found.id, found.mailed, found.status
            self._event(subscriber, "anmälan", "formuläret", notice)
            if status == ACTIVE:
                return Signup(subscriber, False)
            if mailed and moment - dt.datetime.fromisoformat(mailed) < CONFIRMATION_INTERVAL:
                self.db.execute(
                    "UPDATE subscribers SET pending_name = ?, updated = ? WHERE id = ?",
                    (name, stamp(moment), subscriber),
                )
                return Signup(subscriber, False)
            self.db.execute(
                "UPDATE subscribers SET nonce = ?, signed_up = ?, pending_name = ?, mailed = ?, "
                "updated = ? WHERE id = ?",
                (
                    secrets.token_hex(16),
                    stamp(moment),
                    name,
                    stamp(moment),
                    stamp(moment),
                    subscriber,
                ),
            )
            self.db.execute(
                "INSERT INTO outbox (subscriber, kind, queued) VALUES (?, 'confirm', ?)",
                (subscriber, stamp(moment)),
            )
            return Signup(subscriber, True)

    def confirm(self, subscriber: str, nonce: str, pending_days: int) -> bool:
        """Make the subscriber active if nonce is the open sign-up's and it has not expired.

        A confirmed address has shown it wants mail from us, so the hourly limit on
        confirmation mails starts over (an "ångra" right after unsubscribing gets its mail).
        """
        moment = now()
        with self.transaction():
            found = self.get(subscriber)
            if found is None or not nonce or found.nonce != nonce:
                return False
            if moment - dt.datetime.fromisoformat(found.signed_up) > dt.timedelta(
                days=pending_days
            ):
                return False
            self.db.execute(
                "UPDATE subscribers SET status = 'active', name = CASE WHEN pending_name != '' "
                "THEN pending_name ELSE name END, nonce = '', pending_name = '', mailed = '', "
                "updated = ? "
                "WHERE id = ?",
                (stamp(moment), subscriber),
            )
            self._event(subscriber, "bekräftelse", "knappen på bekräftelsesidan")
            return True

    def unsubscribe(self, subscriber: str, how: str) -> Subscriber | None:
        """Unsubscribe at once; return the subscriber as it was before (None if unknown)."""
        with self.transaction():
            found = self.get(subscriber)
            if found is None:
                return None
            self.db.execute(
                "UPDATE subscribers SET status = 'unsubscribed', nonce = '', updated = ? "
                "WHERE id = ?",
                (stamp(), subscriber),
            )
            self._event(subscriber, "avregistrering", how)
            return found

    def set_status(self, address: str, status: str, how: str) -> bool:
        with self.transaction():
            found = self.find(address)
            if found is None:
                return False
            self.db.execute(
                "UPDATE subscribers SET status = ?, updated = ? WHERE id = ?",
                (status, stamp(), found.id),
            )
            self._event(found.id, f"status {status}", how)
            return True

    def add(
        self,
        entries: Iterable[tuple[str, str]],
        source: str,
        erased: Iterable[str],
        status: str = ACTIVE,
        action: str = "import",
    ) -> Imported:
        """Add (address, name) pairs with this status; leave known addresses as they are.

        erased holds the keyed hashes of the entries, in the same order: an address erased
        before is refused.
        """
        result = Imported()
        moment = stamp()
        with self.transaction():
            for (address, name), hashed in zip(entries, erased, strict=True):
                if self.find(address) is not None:
                    result.known.append(address)
                    continue
                if self.is_erased(hashed):
                    result.refused.append(address)
                    continue
                subscriber = self._insert(address, name, status, source, moment)
                self._event(subscriber, action, source)
                result.added.append(address)
        return result

    def suppress(self, addresses: Iterable[str], source: str, key: str, value: str) -> int:
        """Mark addresses unsubscribed (adding unknown ones) and set meta key, in one step."""
        moment = stamp()
        changed = 0
        with self.transaction():
            for address in addresses:
                found = self.find(address)
                if found is None:
                    subscriber = self._insert(address, "", UNSUBSCRIBED, source, moment)
                elif found.status != UNSUBSCRIBED:
                    subscriber = found.id
                    self.db.execute(
                        "UPDATE subscribers SET status = 'unsubscribed', updated = ? WHERE id = ?",
                        (moment, subscriber),
                    )
                else:
                    continue
                self._event(subscriber, "avregistrering", source)
                changed += 1
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        return changed

    def erase(self, address: str, hashed: str) -> bool:
        """Delete the subscriber and its events; keep only the keyed hash of the address."""
        with self.transaction():
            found = self.find(address)
            self.db.execute(
                "INSERT OR IGNORE INTO erased (hash, time) VALUES (?, ?)", (hashed, stamp())
            )
            if found is None:
                return False
            self.db.execute("DELETE FROM subscribers WHERE id = ?", (found.id,))
        # Copy the change into the main file and empty the write-ahead log, where the old
        # page would otherwise stay readable until the next checkpoint.
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    def purge(self, pending_days: int) -> int:
        """Delete pending sign-ups older than pending_days that were never confirmed."""
        limit = stamp(now() - dt.timedelta(days=pending_days))
        with self.transaction():
            cursor = self.db.execute(
                "DELETE FROM subscribers WHERE status = 'pending' AND "
                "(CASE WHEN signed_up != '' THEN signed_up ELSE created END) < ?",
                (limit,),
            )
            return cursor.rowcount

    # the confirmation mails waiting to go out

    def outbox(self) -> list[tuple[int, str, str]]:
        return list(self.db.execute("SELECT seq, subscriber, kind FROM outbox ORDER BY seq"))

    def sent(self, seq: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
