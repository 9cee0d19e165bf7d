"""SIGKILL at arbitrary moments of a (pipelined) list send: the ledger stays exact."""

from __future__ import annotations

import signal
import time

import pytest

from .test_send import recipients
from .test_send_faults import (  # noqa: F401  # faulty is a fixture
    everyone,
    fast_send,
    faulty,
    killed_send,
    ledger_attempts,
)


@pytest.mark.parametrize("after, pause", [(2, 0.0), (5, 0.004), (9, 0.011), (13, 0.017)])
def test_a_kill_at_any_moment_leaves_at_most_one_uncertain(tree, faulty, run, after, pause):  # noqa: F811
    n = 20
    faulty.delay = 0.01  # each message's 250 a little later: the kill lands anywhere
    csv = recipients(tree, n)
    proc = killed_send(tree, csv)
    try:
        deadline = time.monotonic() + 120
        while len(faulty.messages) < after and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    rows = ledger_attempts(tree)
    got = faulty.by_recipient()
    flight = [a for a, (s, k, r) in rows.items() if s == "pending" and k > 0 and not r]
    assert len(flight) <= 1, rows
    for address, (state, _, _) in rows.items():
        if state == "sent":
            assert got[address] == 1, (address, rows)
        elif address not in flight:
            assert got[address] == 0, (address, rows)
    resumed = fast_send(run, tree, csv)
    assert resumed.exit_code == 0, resumed.output
    got = faulty.by_recipient()
    assert all(got[a] == 1 for a in everyone(n) if a not in flight), got
    assert all(got[a] <= 1 for a in flight), got
