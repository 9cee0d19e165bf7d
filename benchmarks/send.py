"""The send benchmark: a list send of N recipients to a local aiosmtpd server, timed.

Runs `send ISSUE --list` in a fresh process against a server on 127.0.0.1 that accepts and
counts every message, so the figure is the pipeline's own cost per message (rendering the
personal message, the SMTP dialogue over loopback, two ledger commits with fsync), not a
real relay's. Also times the two ways of personalising: rendering once and substituting the
unsubscribe URL (what send does) against rendering the whole issue per recipient.

    python benchmarks/send.py [--recipients 1000] [--dkim-recipients 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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


def list_send(n: int, dkim: bool = False) -> tuple[float, int]:
    """Return (wall seconds of one list send in a fresh process, messages the server got).

    With dkim, every message is signed with a 2048-bit key, as [dkim] does.
    """
    from aiosmtpd.controller import Controller

    handler, port = Counter(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
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
            return time.perf_counter() - started, handler.count
    finally:
        controller.stop()


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
        send.wire(send.personal(template, address, "", url, send.message_id(template, address)))
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
    for n, dkim in ((args.recipients, False), (args.dkim_recipients, True)):
        runs = [list_send(n, dkim) for _ in range(args.repeat)]
        assert all(count == n for _, count in runs), (runs, n)
        wall = statistics.median(w for w, _ in runs)
        print(
            f"list send of {n}{' signed with DKIM' if dkim else ''}: median of {args.repeat} "
            f"{wall:.2f} s wall (process start, render, {n} messages): {n / wall:.0f} messages/s"
        )
    substituted, rendered = personalising(200)
    print(
        f"per message: substitute the URL {substituted * 1000:.2f} ms, "
        f"render the issue per recipient {rendered * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
