"""Per issue: accepted, delivered, bounced, complained and unsubscribed, from ledger and register.

Read-only. Delivered is what the server accepted less the hard bounces that came back. An
unsubscribe is counted for the last issue the address had been sent before it unsubscribed
(the service's link names the subscriber, not the issue); a complaint is counted as a
complaint, not as an unsubscribe, although it unsubscribes too.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from nyhetsbrev.content.models import Site


@dataclass(frozen=True)
class IssueFeedback:
    sent: int = 0  # accepted by the server
    bounced: int = 0  # recipients with a hard bounce
    soft: int = 0  # recipients with a soft bounce only
    complained: int = 0
    unsubscribed: int = 0

    @property
    def delivered(self) -> int:
        return self.sent - self.bounced


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def per_issue(ledger: Path | None, register: Path | None) -> dict[str, IssueFeedback]:
    """Return the figures of every issue with a list send in the ledger."""
    if ledger is None or not ledger.is_file():
        return {}
    db = _read_only(ledger)
    try:
        sent_rows = list(
            db.execute("SELECT issue, address, updated FROM sends WHERE state = 'sent'")
        )
        issues = {r[0] for r in db.execute("SELECT DISTINCT issue FROM sends")}
        try:
            feedback = list(db.execute("SELECT DISTINCT issue, address, kind FROM feedback"))
        except sqlite3.OperationalError:  # a ledger from before returned mail was read
            feedback = []
    finally:
        db.close()
    kinds: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for issue, address, kind in feedback:
        kinds[issue][kind].add(address)
    sent: dict[str, int] = defaultdict(int)
    history: dict[str, list[tuple[str, str]]] = defaultdict(list)  # address -> (time, issue)
    for issue, address, updated in sent_rows:
        sent[issue] += 1
        history[address].append((updated, issue))
    unsubscribed: dict[str, int] = defaultdict(int)
    for address, when in _unsubscribes(register):
        times = sorted(history.get(address, []))
        at = bisect.bisect_right(times, (when, "\uffff"))
        if at:
            unsubscribed[times[at - 1][1]] += 1
    result = {}
    for issue in sorted(issues):
        hard = kinds[issue]["hard"]
        result[issue] = IssueFeedback(
            sent=sent[issue],
            bounced=len(hard),
            soft=len(kinds[issue]["soft"] - hard),
            complained=len(kinds[issue]["complaint"]),
            unsubscribed=unsubscribed[issue],
        )
    return result


def _unsubscribes(register: Path | None) -> list[tuple[str, str]]:
    """Return (address, time) of each unsubscribe in the register (not complaints)."""
    if register is None or not register.is_file():
        return []
    db = _read_only(register)
    try:
        return list(
            db.execute(
                "SELECT s.address, e.time FROM events e JOIN subscribers s ON s.id = e.subscriber "
                "WHERE e.action = 'avregistrering'"
            )
        )
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def for_site(site: Site) -> dict[str, IssueFeedback]:
    ledger = site.ledger or site.root / ".nyhetsbrev" / "sends.sqlite"
    register = site.subscriptions.database if site.subscriptions else None
    return per_issue(ledger, register)


def status_line(figures: IssueFeedback) -> str:
    """Return the issue's outcome after sending, in Swedish."""
    return (
        f"efter utskicket: {_n(figures.delivered, 'levererad', 'levererade')}, "
        f"{_n(figures.bounced, 'studsad', 'studsade')}"
        + (f" ({figures.soft} till med tillfälliga studsar)" if figures.soft else "")
        + f", {figures.complained} klagomål, "
        f"{_n(figures.unsubscribed, 'avregistrerad', 'avregistrerade')}"
    )


def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
