"""The send ledger: one SQLite row per (issue, recipient), so a list send never sends twice.

A row is `pending` until the server has accepted the message, then `sent` (WAL,
synchronous=FULL: a commit survives a crash of the process and of the machine). A list send
commits each outcome together with the next message's `begin`, in one statement before that
message goes out (or at once when nothing follows right away): one commit per message, and a
crash in between leaves only the message just answered in flight. A
`5xx` reply or exhausted `4xx` retries make it `failed`; a new run retries pending and failed
rows and never touches sent ones. A timeout or a dropped connection after the message itself
went out (inside DATA) makes it `uncertain`: the server may have accepted it, so it is never
retried in the same run and a new run sends it again only when asked to. `attempts` is raised
and committed just before a message goes out, so after a crash the one row that was in
flight is known (see `in_flight`) and is treated as uncertain too.
Test sends are recorded in a table of their own and never count as list sends.
Returned mail (bounces and complaints) is kept in `feedback`, one row per returned message
and ledger row, with the status code and diagnostic it carried.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nyhetsbrev import database

PENDING, SENT, FAILED, UNCERTAIN = "pending", "sent", "failed", "uncertain"

SCHEMA = """
CREATE TABLE IF NOT EXISTS sends (
    issue      TEXT NOT NULL,
    address    TEXT NOT NULL,               -- lower-cased, ASCII (punycode) domain
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'sent', 'failed', 'uncertain')),
    reply      TEXT NOT NULL DEFAULT '',    -- the server's last reply, e.g. '250 2.0.0 Ok'
    message_id TEXT NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0,  -- messages handed to the server, counted before
    updated    TEXT NOT NULL,               -- UTC, ISO 8601
    PRIMARY KEY (issue, address)
);
CREATE TABLE IF NOT EXISTS feedback (  -- returned mail that answers a row of sends
    issue      TEXT NOT NULL,
    address    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    status     TEXT NOT NULL DEFAULT '',    -- the DSN's status code, e.g. '5.1.1'
    diagnostic TEXT NOT NULL DEFAULT '',    -- e.g. 'smtp; 550 5.1.1 User unknown'
    evidence   TEXT NOT NULL,               -- the returned message's Message-ID or hash
    received   TEXT NOT NULL,               -- UTC, ISO 8601, when it was read
    UNIQUE (evidence, issue, address)
);
CREATE TABLE IF NOT EXISTS test_sends (
    issue   TEXT NOT NULL,
    address TEXT NOT NULL,
    reply   TEXT NOT NULL,
    time    TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Row:
    issue: str
    address: str
    state: str
    reply: str
    message_id: str
    attempts: int
    updated: str


def now() -> str:
    """Return the current UTC time as ISO 8601 (seconds)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class Ledger:
    """An open ledger file; every change is committed before the method returns."""

    def __init__(self, path: Path):
        self.path = path
        self.db = database.connect(path)
        self._migrate()
        self.db.executescript(SCHEMA)
        self.identity = self._identity()
        self._version = -1
        self._later: tuple[str, str, str, str, str] | None = None  # see finish_later

    def _migrate(self) -> None:
        """Let an older ledger hold the `uncertain` state (SQLite cannot alter a CHECK)."""
        found = self.db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sends'"
        ).fetchone()
        if found is None or "uncertain" in found[0]:
            return
        with self._transaction():
            self.db.execute("ALTER TABLE sends RENAME TO sends_old")
            self.db.execute(SCHEMA.split(";")[0])
            self.db.execute("INSERT INTO sends SELECT * FROM sends_old")
            self.db.execute("DROP TABLE sends_old")

    def _identity(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_dev, st.st_ino

    def unchanged(self, issue: str, rows: int) -> bool:
        """Return whether the file is still the one this run opened and holds its rows.

        A ledger deleted, replaced or emptied under a running send would make the next run
        send to everyone again, so the send checks this before each message.
        """
        try:
            if self._identity() != self.identity:
                return False
        except FileNotFoundError:
            return False
        # data_version changes only when another connection commits: count only then
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return True
        self._version = version
        return self._count(issue) >= rows

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, issue: str, addresses: Iterable[str]) -> int:
        """Record addresses as pending unless they already have a row; return how many were new."""
        stamp = now()
        with self._transaction():
            before = self._count(issue)
            self.db.executemany(
                "INSERT OR IGNORE INTO sends (issue, address, updated) VALUES (?, ?, ?)",
                [(issue, a, stamp) for a in addresses],
            )
            return self._count(issue) - before

    def begin(self, issue: str, address: str, message_id: str) -> None:
        """Record that the message is about to be handed to the server.

        An outcome held back by finish_later is committed in the same transaction, first:
        one UPDATE of both rows (a statement is a transaction of its own), as the two
        statements would leave them.
        """
        begun = (
            "UPDATE sends SET state = 'pending', reply = '', attempts = attempts + 1, "
            "message_id = ?, updated = ? "
            "WHERE issue = ? AND address = ? AND state != 'sent'",
            (message_id, now(), issue, address),
        )
        later = self._later
        if later is None:
            self.db.execute(*begun)
        elif later[0] == issue and later[1] != address:
            # Two distinct rows: each is changed as its own statement would change it, and
            # `state != 'sent'` is read before either change, as it would be.
            done, state, reply, finished = later[1:]
            self.db.execute(
                "UPDATE sends SET "
                "state = CASE address WHEN :next THEN 'pending' ELSE :state END, "
                "reply = CASE address WHEN :next THEN '' ELSE :reply END, "
                "attempts = attempts + (address = :next), "
                "message_id = CASE address WHEN :next THEN :message_id ELSE message_id END, "
                "updated = CASE address WHEN :next THEN :begun ELSE :finished END "
                "WHERE issue = :issue AND address IN (:done, :next) AND state != 'sent'",
                {
                    "issue": issue,
                    "next": address,
                    "message_id": message_id,
                    "begun": begun[1][1],
                    "done": done,
                    "state": state,
                    "reply": reply,
                    "finished": finished,
                },
            )
        else:
            with self._transaction():
                self.db.execute(*_finished(*later))
                self.db.execute(*begun)
        self._later = None

    def finish(self, issue: str, address: str, state: str, reply: str) -> None:
        """Record the outcome of a send (never downgrades a sent row)."""
        self.flush()
        self.db.execute(*_finished(issue, address, state, reply))

    def finish_later(self, issue: str, address: str, state: str, reply: str) -> None:
        """Hold the outcome of a send until the next begin or flush, which commits it.

        Until then the row stays in flight (possibly delivered): a crash in between costs one
        uncertain row, never a duplicate. The caller flushes before it waits for anything.
        """
        self.flush()
        self._later = (issue, address, state, reply, now())

    def flush(self) -> None:
        """Commit an outcome held back by finish_later (nothing when there is none)."""
        if self._later is not None:
            self.db.execute(*_finished(*self._later))
            self._later = None

    def record_test(self, issue: str, address: str, reply: str) -> None:
        self.db.execute(
            "INSERT INTO test_sends VALUES (?, ?, ?, ?)", (issue, address, reply, now())
        )

    def rows(self, issue: str) -> dict[str, Row]:
        """Return the issue's rows by address."""
        self.flush()
        cursor = self.db.execute(
            "SELECT issue, address, state, reply, message_id, attempts, updated FROM sends "
            "WHERE issue = ? ORDER BY address",
            (issue,),
        )
        return {r[1]: Row(*r) for r in cursor}

    def counts(self, issue: str) -> dict[str, int]:
        """Return the number of rows per state (every state present, zero when none)."""
        counts = dict.fromkeys((SENT, FAILED, PENDING, UNCERTAIN), 0)
        for state, n in self.db.execute(
            "SELECT state, COUNT(*) FROM sends WHERE issue = ? GROUP BY state", (issue,)
        ):
            counts[state] = n
        return counts

    def tests(self, issue: str) -> list[tuple[str, str, str]]:
        """Return the issue's test sends as (address, reply, time), oldest first."""
        return list(
            self.db.execute(
                "SELECT address, reply, time FROM test_sends WHERE issue = ? ORDER BY rowid",
                (issue,),
            )
        )

    def issues(self) -> list[str]:
        """Return every issue id with a list send or a test send."""
        return [
            r[0]
            for r in self.db.execute(
                "SELECT issue FROM sends UNION SELECT issue FROM test_sends ORDER BY issue"
            )
        ]

    def by_token(self, token: str) -> Row | None:
        """Return the row whose Message-ID carries this return-path token (see send.token)."""
        if not re.fullmatch(r"[0-9a-f]{20}", token):
            return None
        found = self.db.execute(
            "SELECT issue, address, state, reply, message_id, attempts, updated FROM sends "
            "WHERE message_id LIKE ?",
            (f"%.{token}@%",),
        ).fetchone()
        return Row(*found) if found else None

    def by_message_id(self, message_id: str) -> Row | None:
        """Return the row that sent the message with this Message-ID."""
        found = self.db.execute(
            "SELECT issue, address, state, reply, message_id, attempts, updated FROM sends "
            "WHERE message_id = ?",
            (message_id.strip(),),
        ).fetchone()
        return Row(*found) if found else None

    def record_feedback(
        self, row: Row, kind: str, status: str, diagnostic: str, evidence: str
    ) -> bool:
        """Keep a bounce or complaint with its row; return False when it was already kept."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.issue, row.address, kind, status, diagnostic, evidence, now()),
        )
        return cursor.rowcount == 1

    def soft_bounces(self, address: str, since: str) -> int:
        """Return how many soft bounces for the address were read since this time."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM feedback WHERE address = ? AND kind = 'soft' AND received >= ?",
            (address, since),
        ).fetchone()
        return int(row[0])

    def feedback(self, issue: str) -> dict[str, int]:
        """Return how many recipients of the issue bounced (hard, soft) or complained."""
        counts = dict.fromkeys(("hard", "soft", "complaint"), 0)
        for kind, n in self.db.execute(
            "SELECT kind, COUNT(DISTINCT address) FROM feedback WHERE issue = ? GROUP BY kind",
            (issue,),
        ):
            counts[kind] = n
        return counts

    def feedback_rows(self, issue: str) -> list[tuple[str, str, str, str]]:
        """Return the issue's bounces and complaints as (address, kind, status, diagnostic)."""
        return list(
            self.db.execute(
                "SELECT address, kind, status, diagnostic FROM feedback WHERE issue = ? "
                "ORDER BY address, received",
                (issue,),
            )
        )

    def _count(self, issue: str) -> int:
        row = self.db.execute("SELECT COUNT(*) FROM sends WHERE issue = ?", (issue,)).fetchone()
        return int(row[0])

    def _transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return database.transaction(self.db)


def _finished(
    issue: str, address: str, state: str, reply: str, stamp: str = ""
) -> tuple[str, tuple[str, ...]]:
    return (
        "UPDATE sends SET state = ?, reply = ?, updated = ? "
        "WHERE issue = ? AND address = ? AND state != 'sent'",
        (state, reply, stamp or now(), issue, address),
    )


def in_flight(rows: Iterable[Row]) -> list[Row]:
    """Return rows that were handed to the server but have no recorded outcome.

    attempts is raised before a message goes out and the outcome is written after the reply,
    so a row with attempts > 0 that is still pending with no reply was interrupted in between:
    the server may have accepted that message.
    """
    return [r for r in rows if r.state == PENDING and r.attempts > 0 and not r.reply]


def delivered(path: Path) -> dict[str, int]:
    """Return, per issue id with list-send rows, how many recipients the server accepted.

    An issue that was sent to a list has an entry, 0 when every recipient failed; an issue
    the ledger knows nothing about (test sends only, or sent before the ledger) has none.
    """
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return dict(
            db.execute("SELECT issue, SUM(state = 'sent') FROM sends GROUP BY issue ORDER BY issue")
        )
    except sqlite3.OperationalError:  # a file that is not (yet) a ledger
        return {}
    finally:
        db.close()


def _lock(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def mark_used(path: Path) -> None:
    """Note beside the ledger that a list send has written to it (see `lost`)."""
    lock = _lock(path)
    if not lock.is_file() or lock.stat().st_size == 0:
        lock.write_text("en lista har skickats med utskicksregistret bredvid\n", "utf-8")


def lost(path: Path) -> bool:
    """Return whether the ledger is gone although a list send has used it.

    Without it a new run would send to everyone again. The lock file beside it outlives it
    and says whether a list send wrote to it.
    """
    lock = _lock(path)
    return not path.exists() and lock.is_file() and lock.stat().st_size > 0


@contextlib.contextmanager
def locked(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock beside the ledger for one run; yield False if another run holds it.

    The operating system drops the lock when the process dies, so a killed run never blocks
    the resume. Where fcntl does not exist (Windows) the lock is skipped.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
