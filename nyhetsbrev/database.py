"""The one way a register or the ledger opens its SQLite file and changes it.

WAL with synchronous=FULL: a committed change survives a crash of the process and of the
machine (each commit waits for the write-ahead log to reach the disk). Autocommit unless a
`transaction` is open; `BEGIN IMMEDIATE` takes the write lock at the start, so a transaction
never fails half-way for want of it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def connect(path: Path, *pragmas: str, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating its folder) the database at path in WAL mode, synchronous=FULL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(
        path, isolation_level=None, timeout=30, check_same_thread=check_same_thread
    )
    for pragma in ("journal_mode=WAL", "synchronous=FULL", *pragmas):
        db.execute(f"PRAGMA {pragma}")
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block as one transaction: committed at its end, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# SQLite's reasons, as a coordinator reads them. Anything else is shown as SQLite gives it.
REASONS = {
    "file is not a database": "filen är ingen databas",
    "database disk image is malformed": "filen är skadad",
    "database is locked": "filen används av ett annat program",
    "unable to open database file": "filen kan inte öppnas",
    "attempt to write a readonly database": "filen är skrivskyddad",
    "disk I/O error": "fel vid läsning eller skrivning på disken",
    "database or disk is full": "disken är full",
}


def reason(error: sqlite3.Error) -> str:
    """Return why a database could not be used, in Swedish where SQLite's words are known."""
    text = str(error)
    return REASONS.get(text, text)
