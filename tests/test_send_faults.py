"""List sends against a fault-injecting SMTP server (aiosmtpd on 127.0.0.1).

The server accepts a message and then stalls past the client's timeout, drops the line after
DATA, drops every Nth connection, answers 421 to everything, or answers slowly (a tarpit).
Whatever it does, every recipient ends with exactly one copy, except those the ledger names
as possibly delivered (`uncertain`), which get no second copy in the same run, nor in a later
one unless the operator asks for it with --resend-uncertain.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from .smtp import SECRET, Recorder, free_port, point
from .test_send import ISSUE, ledger_rows, recipients

TIMEOUT = "0.3"  # seconds the client waits for each reply
STALL = 0.8  # seconds a stalling server holds its reply: past the client's timeout


class Faulty(Recorder):
    """A Recorder that can also stall, drop inside DATA, drop connections or tarpit."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: set[str] = set()  # recipients whose message is kept but answered too late
        self.drop_data_every: int | None = None  # drop the line after every Nth message
        self.drop_connection_every: int | None = None  # drop every Nth connection at EHLO
        self.always: str | None = None  # the reply to every MAIL, e.g. a 421
        self.tarpit = 0.0  # seconds before every reply (below the client's timeout)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        await asyncio.sleep(self.tarpit)
        responses = await super().handle_EHLO(server, session, envelope, hostname, responses)
        if self.drop_connection_every and self.connections % self.drop_connection_every == 0:
            server.transport.close()
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        await asyncio.sleep(self.tarpit)
        if self.always:
            return self.always
        return await super().handle_MAIL(server, session, envelope, address, mail_options)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await asyncio.sleep(self.tarpit)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.tarpit)
        reply = await super().handle_DATA(server, session, envelope)
        if set(envelope.rcpt_tos) & self.stall:
            await asyncio.sleep(STALL)  # accepted, but the client has given up waiting
        if self.drop_data_every and len(self.messages) % self.drop_data_every == 0:
            server.transport.close()  # accepted, but the reply never leaves
        return reply


@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelined"])
def faulty(tree: Path, monkeypatch, request):
    """The faulty server, once without PIPELINING and once offering it (RFC 2920)."""
    handler = Faulty()
    handler.pipelining = request.param
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    point(tree, port)
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.delenv("NYHETSBREV_SMTP_PASSWORD", raising=False)
    yield handler
    controller.stop()
    # the path under test was the one taken
    assert handler.pipelined > 0 or not handler.messages if request.param else not handler.pipelined


def fast_send(run, tree: Path, csv: Path, *more: str):
    return run(
        "send",
        ISSUE,
        "--root",
        tree,
        "--list",
        csv,
        "--retry-wait",
        "0.01",
        "--timeout",
        TIMEOUT,
        "--skip-web-check",
        *more,
    )


def everyone(n: int) -> list[str]:
    return [f"mottagare{i:02d}@kommun{i % 3}.example.se" for i in range(n)]


def assert_at_most_once(tree: Path, handler: Faulty, n: int) -> dict[str, str]:
    """Assert the invariant: sent once, possibly delivered at most once, the rest never."""
    states = {a: s for a, (s, _) in ledger_rows(tree).items()}
    counts = handler.by_recipient()
    for address in everyone(n):
        state = states.get(address, "none")
        expected = {"sent": {1}, "uncertain": {0, 1}}.get(state, {0})
        assert counts[address] in expected, (address, state, counts[address])
    return states


def test_a_server_that_replies_after_the_timeout_gets_one_copy(tree, faulty, run):
    slow = "mottagare02@kommun2.example.se"
    faulty.stall = {slow}
    csv = recipients(tree, 5)
    first = fast_send(run, tree, csv)
    assert first.exit_code == 1
    assert faulty.by_recipient()[slow] == 1  # before the fix: four copies in one run
    states = assert_at_most_once(tree, faulty, 5)
    assert states[slow] == "uncertain"
    assert collections.Counter(states.values()) == {"sent": 4, "uncertain": 1}
    assert f"{slow}: kan ha fått brevet (inget svar efter att brevet lämnats över: " in (
        first.stderr
    )
    assert first.stderr.endswith(
        "Servern svarade inte på brevet till en mottagare, som kan ha fått det; se ovan och "
        "`send 2022-10 --status`. Kör samma kommando igen för att försöka på nytt; de som "
        "fått numret hoppas över, och den som kan ha fått det får det igen bara med "
        "--resend-uncertain\n"
    )
    assert "status: ready" in (tree / "newsletters/2022/2022-10/issue.md").read_text("utf-8")

    status = run("send", ISSUE, "--root", tree, "--status").stdout.splitlines()
    assert status[0] == (
        "2022-10: 4 skickade, 0 misslyckade, 0 väntar, 1 kan ha fått brevet "
        "(5 mottagare i .nyhetsbrev/sends.sqlite)"
    )
    assert status[1] == (
        "kan ha fått brevet (servern svarade inte efter att brevet lämnats över; skickas igen "
        "bara med --resend-uncertain):"
    )
    assert status[2].startswith(f"  {slow}: inget svar efter att brevet lämnats över: ")

    faulty.stall = set()
    rerun = fast_send(run, tree, csv)  # without the flag: nobody is sent anything
    assert rerun.exit_code == 0, rerun.output
    assert faulty.by_recipient()[slow] == 1
    assert (
        f"varning: {slow} kan redan ha fått brevet (inget svar efter att brevet lämnats över: "
    ) in rerun.stderr
    assert "hoppas över utan --resend-uncertain" in rerun.stderr
    assert rerun.stdout.splitlines()[-1].startswith(
        "Numret har kvar status: ready: en mottagare kan ha fått brevet utan att servern svarade."
    )
    dry = fast_send(run, tree, csv, "--dry-run")
    assert f"  kan redan ha fått brevet (hoppas över utan --resend-uncertain): {slow}" in (
        dry.stdout
    )

    again = fast_send(run, tree, csv, "--resend-uncertain")
    assert again.exit_code == 0, again.output
    assert faulty.by_recipient()[slow] == 2  # asked for: one more, with the same Message-ID
    ids = {m["Message-ID"] for r, m in faulty.parsed() if r == slow}
    assert len(ids) == 1
    assert "Alla mottagare är klara" in again.stdout


def test_a_drop_after_data_is_never_retried_in_the_run(tree, faulty, run):
    faulty.drop_data_every = 3
    csv = recipients(tree, 10)
    result = fast_send(run, tree, csv)
    assert result.exit_code == 1
    assert len(faulty.messages) == 10  # one each; before the fix every third got two or more
    states = assert_at_most_once(tree, faulty, 10)
    assert collections.Counter(states.values()) == {"sent": 7, "uncertain": 3}


def test_every_nth_connection_dropped_at_greeting_is_retried_safely(tree, faulty, run):
    faulty.drop_connection_every = 2
    faulty.drop_every = 3  # and the server closes each connection after three messages
    csv = recipients(tree, 12)
    result = fast_send(run, tree, csv)
    assert result.exit_code == 0, result.output
    states = assert_at_most_once(tree, faulty, 12)
    assert set(states.values()) == {"sent"}
    assert faulty.connections > 4


def test_a_tarpit_is_slow_but_everyone_gets_one(tree, faulty, run):
    faulty.tarpit = 0.05
    csv = recipients(tree, 4)
    result = fast_send(run, tree, csv)
    assert result.exit_code == 0, result.output
    assert set(assert_at_most_once(tree, faulty, 4).values()) == {"sent"}


def test_421_forever_pauses_the_run_and_keeps_the_ledger_exact(tree, faulty, run):
    faulty.always = "421 4.3.2 Tjänsten är inte tillgänglig"
    csv = recipients(tree, 40)
    started = time.monotonic()
    result = fast_send(run, tree, csv)
    took = time.monotonic() - started
    assert result.exit_code == 1
    assert took < 10  # before the fix: every one of the 40 retried in turn
    assert result.stderr.endswith(
        "Utskicket pausades: servern gav inget klart svar för fem mottagare i rad (senast: "
        "421 4.3.2 Tjänsten är inte tillgänglig). Ytterligare 35 mottagare har inte fått numret "
        "ännu, och utskicksregistret visar exakt vilka som fått det. Vänta tills servern fungerar "
        "(fråga den som sköter den) och kör sedan samma kommando igen; de som fått numret "
        "hoppas över\n"
    )
    states = collections.Counter(s for s, _ in ledger_rows(tree).values())
    assert states == {"failed": 5, "pending": 35}
    assert faulty.messages == []

    faulty.always = None
    resumed = fast_send(run, tree, csv)
    assert resumed.exit_code == 0, resumed.output
    assert set(assert_at_most_once(tree, faulty, 40).values()) == {"sent"}


def test_pause_after_is_an_option(tree, faulty, run):
    faulty.always = "451 4.7.1 Försök senare"
    result = fast_send(run, tree, recipients(tree, 6), "--pause-after", "2")
    assert "för två mottagare i rad" in result.stderr
    assert collections.Counter(s for s, _ in ledger_rows(tree).values()) == {
        "failed": 2,
        "pending": 4,
    }


@pytest.mark.parametrize("how", ["deleted", "replaced", "emptied"])
def test_a_ledger_deleted_or_replaced_mid_send_stops_it(tree, faulty, run, how):
    path = tree / ".nyhetsbrev" / "sends.sqlite"
    original = faulty.handle_DATA

    async def meddle(server, session, envelope):
        reply = await original(server, session, envelope)
        if len(faulty.messages) == 3:
            if how == "deleted":
                path.unlink()
            elif how == "replaced":
                shutil.copy(path, path.with_suffix(".kopia"))
                os.replace(path.with_suffix(".kopia"), path)
            else:
                db = sqlite3.connect(path)
                db.execute("DELETE FROM sends")
                db.commit()
                db.close()
        return reply

    faulty.handle_DATA = meddle
    result = fast_send(run, tree, recipients(tree, 10))
    assert result.exit_code == 1
    assert len(faulty.messages) == 3  # before the fix: all ten, and a rerun sends ten more
    assert result.stderr.endswith(
        ".nyhetsbrev/sends.sqlite: utskicksregistret togs bort, byttes ut eller tömdes medan "
        "utskicket pågick; utskicket stoppades (3 brev skickades i den här körningen). "
        "Registret är minnet av vem som fått numret: återställ filen (t.ex. från en "
        "säkerhetskopia) innan du kör igen, annars får alla numret en gång till\n"
    )


def test_a_test_send_to_a_stalling_server_is_sent_once(tree, faulty, run):
    faulty.stall = {"mig@example.se"}
    result = run(
        "send",
        ISSUE,
        "--root",
        tree,
        "--timeout",
        TIMEOUT,
        "--retry-wait",
        "0.01",
        "--skip-web-check",
        "--to",
        "mig@example.se",
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Testbrev till mig@example.se: kan ha kommit fram, servern svarade inte (inget svar "
        "efter att brevet lämnats över: "
    )
    assert len(faulty.messages) == 1  # before the fix: four


def test_a_line_break_in_a_to_address_is_refused(tree, faulty, run):
    result = run(
        "send", ISSUE, "--root", tree, "--skip-web-check", "--to", "mig@example.se\nBcc: x@y.se"
    )
    assert result.exit_code == 1
    assert result.stderr == (  # one line: before the fix the line break split the message
        '--to mig@example.se\\nBcc: x@y.se: "mig@example.se\\nBcc: x@y.se" är ingen giltig '
        "e-postadress: mellanslag i adressen\n"
    )
    assert faulty.messages == []


# --- a kill at the two points where a message's outcome is unknown -----------------------

DIE_AFTER_REPLY = """
import os, sys
from nyhetsbrev.delivery import send
target, deliver = sys.argv[1], send.deliver

def dying(conn, sender, to, data, **hooks):
    outcome = deliver(conn, sender, to, data, **hooks)
    if to == target:  # the server said 250; the ledger has not been told
        os._exit(9)
    return outcome

send.deliver = dying
from nyhetsbrev.cli import cli
cli.main(sys.argv[2:])
"""


def killed_send(tree: Path, csv: Path, script: str = "", target: str = ""):
    """Start `send` in its own process (with a kill point when script is given)."""
    from .test_send import REPO

    command = ["-c", script, target] if script else [str(REPO / "build.py")]
    env = dict(os.environ, NYHETSBREV_UNSUBSCRIBE_SECRET=SECRET, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, *command, "send", ISSUE, "--root", str(tree), "--list", str(csv)]
        + ["--retry-wait", "0.01", "--skip-web-check"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ledger_attempts(tree: Path) -> dict[str, tuple[str, int, str]]:
    db = sqlite3.connect(tree / ".nyhetsbrev" / "sends.sqlite")
    try:
        query = "SELECT address, state, attempts, reply FROM sends WHERE issue = ?"
        return {a: (s, n, r) for a, s, n, r in db.execute(query, (ISSUE,))}
    finally:
        db.close()


def assert_one_in_flight_then_resume(tree: Path, faulty: Faulty, run, n: int, k: int) -> None:
    """The ledger names recipient k alone as in flight; a resume sends everyone else once."""
    rows = ledger_attempts(tree)
    names = everyone(n)
    assert [rows[a][0] for a in names[:k]] == ["sent"] * k
    assert rows[names[k]] == ("pending", 1, "")  # in flight: handed over, no outcome
    assert [rows[a][1] for a in names[k + 1 :]] == [0] * (n - k - 1)  # never handed over
    resumed = fast_send(run, tree, tree / "lista.csv")
    assert resumed.exit_code == 0, resumed.output
    assert (
        f"varning: {names[k]} kan redan ha fått brevet (avbröts medan brevet skickades); "
        "hoppas över utan --resend-uncertain"
    ) in resumed.stderr
    assert faulty.by_recipient() == {a: 1 for a in names}  # nobody twice
    states = {a: s for a, (s, _) in ledger_rows(tree).items()}
    assert states == {a: "uncertain" if a == names[k] else "sent" for a in names}


def test_a_kill_after_the_250_before_the_ledger_knows_leaves_that_one_uncertain(tree, faulty, run):
    n, k = 12, 7
    csv = recipients(tree, n)
    proc = killed_send(tree, csv, DIE_AFTER_REPLY, everyone(n)[k])
    assert proc.wait(timeout=120) == 9
    assert len(faulty.messages) == k + 1
    assert_one_in_flight_then_resume(tree, faulty, run, n, k)


class Holding(Faulty):
    """A server that keeps one recipient's message and never replies to it."""

    def __init__(self, hold: str) -> None:
        super().__init__()
        self.hold = hold

    async def handle_DATA(self, server, session, envelope):
        reply = await super().handle_DATA(server, session, envelope)
        if self.hold in envelope.rcpt_tos:
            await asyncio.sleep(3600)
        return reply


def test_a_kill_while_the_server_holds_the_reply_leaves_that_one_uncertain(
    tree, faulty, run, monkeypatch
):
    n, k = 12, 5
    holding = Holding(everyone(n)[k])
    holding.pipelining = faulty.pipelining
    port = free_port()
    controller = Controller(holding, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        text = (tree / "newsletter.toml").read_text("utf-8")
        old_port = re.search(r"(?m)^port = (\d+)", text)
        assert old_port is not None
        (tree / "newsletter.toml").write_text(
            text.replace(old_port.group(0), f"port = {port}", 1), "utf-8"
        )
        csv = recipients(tree, n)
        proc = killed_send(tree, csv)
        try:
            deadline = time.monotonic() + 120
            while len(holding.messages) <= k and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(holding.messages) == k + 1, "the sender never reached the held one"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        (tree / "newsletter.toml").write_text(text, "utf-8")  # the resume goes to faulty
        faulty.messages = list(holding.messages)
        assert_one_in_flight_then_resume(tree, faulty, run, n, k)
    finally:
        controller.stop()
