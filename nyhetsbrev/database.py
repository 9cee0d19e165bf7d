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
