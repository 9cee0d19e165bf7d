"""The send benchmark: a list send of N recipients to a local SMTP sink, timed.

Runs `send ISSUE --list` in a fresh process against a server on 127.0.0.1 that accepts and
counts every message, so the figure is the pipeline's own cost per message (rendering the
personal message, the SMTP dialogue over loopback, the ledger's commit with fsync), not a
real relay's. The server is Postfix's smtp-sink, a C program written to measure SMTP
clients (scripts/ensure-smtp-sink installs it): aiosmtpd in a thread of this process takes
fewer messages a second than the sender can send, so it would measure itself. Where
smtp-sink is missing the figures are taken against aiosmtpd and say so. Also times the two
ways of personalising: rendering once and substituting the unsubscribe URL (what send does)
against rendering the whole issue per recipient.

    python benchmarks/send.py [--recipients 1000] [--dkim-recipients 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "basic"
ISSUE = "2022-10"
SECRET = "benchmark-secret-of-at-least-32-bytes"


FIXTURE_SENDER = "Länsstyrelsen i Testlän"


def sender_name() -> str:
    """Return [sender] name of the sample newsletter.toml at the repository's root."""
    import tomllib

    return tomllib.loads((REPO / "newsletter.toml").read_text("utf-8"))["sender"]["name"]


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += len(envelope.rcpt_tos)
        return "250 2.0.0 Ok"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SMTP_SINK = Path("/usr/sbin/smtp-sink")
SINK, AIOSMTPD = "smtp-sink", "aiosmtpd"


def fast_server() -> str:
    """Return the server the figures are taken against: smtp-sink where installed."""
    return SINK if SMTP_SINK.is_file() else AIOSMTPD


@contextlib.contextmanager
def server(kind: str) -> Iterator[tuple[int, Callable[[int], int]]]:
    """Run an SMTP server on 127.0.0.1; yield (port, count).

    count(expected) returns how many messages the server has taken (waiting up to two
    seconds for it to reach expected, as smtp-sink reports its counters a moment late).
    """
    port = free_port()
    if kind == AIOSMTPD:
        from aiosmtpd.controller import Controller

        handler = Counter()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            yield port, lambda expected: handler.count
        finally:
            controller.stop()
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counters"
        # -c: running counters ("sess=1 quit=1 mesg=1000", updated at each "." and QUIT);
        # as root it must drop to an unprivileged user.
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with out.open("wb") as stdout:
            sink = subprocess.Popen(
                [str(SMTP_SINK), *user, "-c", f"127.0.0.1:{port}", "64"],
                stdout=stdout,
                stderr=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 5
            while True:  # until it listens
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or sink.poll() is not None:
                    raise RuntimeError(f"{SMTP_SINK} did not start")
                time.sleep(0.02)

            def count(expected: int) -> int:
                deadline = time.monotonic() + 2
                while True:
                    counters = out.read_bytes().replace(b"\r", b"\n").split()
                    found = [int(c[5:]) for c in counters if c.startswith(b"mesg=")]
                    seen = found[-1] if found else 0
                    if seen >= expected or time.monotonic() > deadline:
                        return seen
                    time.sleep(0.05)

            yield port, count
        finally:
            sink.terminate()
            sink.wait()


DKIM_KEY = REPO / "tests" / "fixtures" / "dkim" / "test-key.pem"  # a throwaway 2048-bit key


def tree(folder: Path, port: int, n: int, dkim: bool = False) -> tuple[Path, Path]:
    root = folder / "innehall"
    shutil.copytree(FIXTURE, root)
    toml = root / "newsletter.toml"
    text = toml.read_text("utf-8").replace("port = 2525", f"port = {port}")
    # The real sender name of the sample newsletter.toml: its length and its non-ASCII
    # letters are what every message's From header costs.
    text = text.replace(f'name = "{FIXTURE_SENDER}"', f'name = "{sender_name()}"', 1)
    if dkim:
        text += '\n[dkim]\ndomain = "example.se"\nselector = "prov"\n'
    toml.write_text(text, "utf-8")
    csv = root / "lista.csv"
    csv.write_text(
        "email,name\n" + "".join(f"m{i}@kommun{i % 13}.example.se,M {i}\n" for i in range(n)),
        "utf-8",
    )
    return root, csv


def list_send(n: int, dkim: bool = False, kind: str | None = None) -> tuple[float, int]:
    """Return (wall seconds of one list send in a fresh process, messages the server got).

    With dkim, every message is signed with a 2048-bit key, as [dkim] does. kind is the
    server (default: the fast one, see fast_server).
    """
    with server(kind or fast_server()) as (port, count):
        with tempfile.TemporaryDirectory() as tmp:
            root, csv = tree(Path(tmp), port, n, dkim)
            env = dict(os.environ, NYHETSBREV_UNSUBSCRIBE_SECRET=SECRET)
            if dkim:
                env["NYHETSBREV_DKIM_KEY"] = str(DKIM_KEY)
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "build.py"),
                    "send",
                    ISSUE,
                    "--root",
                    str(root),
                    "--list",
                    str(csv),
                    "--skip-web-check",  # the archive of the fixture is not online
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - started
        return wall, count(n)


def personalising(n: int) -> tuple[float, float]:
    """Return seconds per message: substitute into one rendering, and render per recipient."""
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.build.render import environment, render_issue
    from nyhetsbrev.delivery import send
    from nyhetsbrev.subscriptions.recipients import unsubscribe_url

    content = load_content(FIXTURE).content
    issue = send.find_issue(content, ISSUE)
    template = send.prepare(content, issue)
    started = time.perf_counter()
    for i in range(n):
        address = f"m{i}@example.se"
        url = unsubscribe_url(content.site.unsubscribe_url, SECRET, address)
        send._wired(template, address, "", url, send.message_id(template, address))
    substituted = (time.perf_counter() - started) / n
    env = environment(None)
    started = time.perf_counter()
    for i in range(min(n, 30)):
        render_issue(env, content, issue, unsubscribe_url=f"https://x.se/a?e=m{i}")
    rendered = (time.perf_counter() - started) / min(n, 30)
    return substituted, rendered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--dkim-recipients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}"
    )
    kind = fast_server()
    for n, dkim in ((args.recipients, False), (args.dkim_recipients, True)):
        runs = [list_send(n, dkim, kind) for _ in range(args.repeat)]
        assert all(count == n for _, count in runs), (runs, n)
        wall = statistics.median(w for w, _ in runs)
        print(
            f"list send of {n}{' signed with DKIM' if dkim else ''} to {kind}: median of "
            f"{args.repeat} {wall:.2f} s wall (process start, render, {n} messages): "
            f"{n / wall:.0f} messages/s"
        )
    if str(REPO) not in sys.path:  # run as a script
        sys.path.insert(0, str(REPO))
    from benchmarks.figures import message_size, smtp_floor

    size = message_size()
    for server_kind in dict.fromkeys((kind, AIOSMTPD)):
        for ledger in (False, True):
            rate = statistics.median(
                smtp_floor(args.recipients, size, ledger, server_kind) for _ in range(args.repeat)
            )
            print(
                f"floor to {server_kind}: a bare smtplib loop of {args.recipients} messages of "
                f"{size} bytes{' with the ledger commit' if ledger else ''}: {rate:.0f} messages/s"
            )
    substituted, rendered = personalising(200)
    print(
        f"per message: substitute the URL {substituted * 1000:.2f} ms, "
        f"render the issue per recipient {rendered * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
