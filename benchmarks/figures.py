"""The speed figures in one table, each beside a reference measured in the same run.

    python benchmarks/figures.py [--years 10] [--repeat 3] [--recipients 1000]

| figure | measured | reference (same run) | target |

Every time is the median of --repeat runs (the machine is shared; the load is printed). A
build runs in a fresh process, so start-up and imports count; its memory is the sum of the
resident memory of the whole process tree (the build and its worker processes), sampled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.synthetic import write_tree  # noqa: E402

FLOOR = """
import sys, os
from pathlib import Path
root, previous, out = map(Path, sys.argv[1:4])
sources = [p.read_bytes() for p in root.rglob("*") if p.is_file() and ".nyhetsbrev" not in p.parts]
for p in previous.rglob("*"):
    if p.is_file():
        target = out / p.relative_to(previous)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(p.read_bytes())
"""


def _tree_rss(pid: int) -> int:
    """Return the resident bytes of pid and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/statm", "rb") as f:
                pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        child = int(entry.name)
        children.setdefault(int(fields[1]), []).append(child)
        rss[child] = pages * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def timed_process(
    command: list[str], cwd: Path = REPO, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Run command; return (wall seconds, peak resident MiB of its whole process tree)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    return wall, peak / 2**20


def wall_time(command: list[str], cwd: Path = REPO) -> float:
    """Run command; return its wall seconds (no memory sampler competing for the cores)."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr.decode()[-2000:]}")
    return wall


def build_command(root: Path, out: Path, cache: bool = True) -> list[str]:
    code = (
        "import sys; from pathlib import Path; from nyhetsbrev.build.pipeline import build; "
        f"build(Path(sys.argv[1]), Path(sys.argv[2]), use_cache={cache})"
    )
    return [sys.executable, "-c", code, str(root), str(out)]


def median_of(repeat: int, run) -> float:
    return statistics.median(run() for _ in range(repeat))


def builds(work: Path, years: int, repeat: int) -> dict[str, float]:
    """Time clean, unchanged and one-item rebuilds, and the floor, of a synthetic tree."""
    root = work / f"{years}y"
    if not root.exists():
        write_tree(root, years)
    out = work / f"{years}y-out"
    result: dict[str, float] = {}
    clean, peaks = [], []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(root / ".nyhetsbrev", ignore_errors=True)
        wall, peak = timed_process(build_command(root, out, cache=False))
        clean.append(wall)
        peaks.append(peak)
    result["clean"], result["peak_mb"] = statistics.median(clean), max(peaks)
    timed_process(build_command(root, out))  # fills the cache
    # The rebuilds and the floor take a fraction of a second: timed without the sampler,
    # which on two shared cores would take a good part of that time from them.
    result["unchanged"] = median_of(repeat, lambda: wall_time(build_command(root, out)))
    item = root / "newsletters" / str(2010 + years - 1) / f"{2010 + years - 1}-06" / "text-03.md"
    original = item.read_text("utf-8")
    edits = []
    for n in range(repeat):
        item.write_text(original + f"\nEn ändring nummer {n}.\n", "utf-8")
        edits.append(wall_time(build_command(root, out)))
    item.write_text(original, "utf-8")
    result["edit"] = statistics.median(edits)
    floor_out = work / "floor-out"

    def floor() -> float:
        shutil.rmtree(floor_out, ignore_errors=True)
        return wall_time([sys.executable, "-c", FLOOR, str(root), str(out), str(floor_out)])

    result["floor"] = median_of(repeat, floor)
    shutil.rmtree(floor_out, ignore_errors=True)
    result["items"] = len(list(root.rglob("text-*.md")))
    return result


def one_issue(work: Path, repeat: int) -> tuple[float, str]:
    """Return ms for one 15-item issue, Markdown to html + txt + eml (warm), and the reference."""
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.build.render import environment, render_issue

    root = work / "1y"
    if not root.exists():
        write_tree(root, 1)
    content = load_content(root).content
    issue = content.issues[5]
    env = environment(None)
    render_issue(env, content, issue)
    times = []
    for _ in range(max(repeat, 10)):
        start = time.perf_counter()
        render_issue(env, content, issue)
        times.append((time.perf_counter() - start) * 1000)
    mjml_file = work / "issue.mjml"
    from nyhetsbrev.build.render import render_mjml

    mjml_file.write_text(render_mjml(env, content, issue), "utf-8")
    reference = "official MJML: not installed (npm install --prefix benchmarks mjml@4)"
    node = shutil.which("node")
    if node and (REPO / "benchmarks" / "node_modules" / "mjml").is_dir():
        files = [str(mjml_file)] * 20
        done = subprocess.run(
            [node, str(REPO / "benchmarks" / "mjml_time.js"), *files],
            capture_output=True,
            text=True,
            cwd=REPO / "benchmarks",
        )
        if done.returncode == 0:
            import json

            seconds = json.loads(done.stdout)["seconds"]
            reference = f"official MJML (node) compile only: {seconds / 20 * 1000:.1f} ms"
    return statistics.median(times), reference


FLOOR_SEND = """
import smtplib, sqlite3, sys, tempfile, time
from pathlib import Path
port, n, size, ledger = (int(a) for a in sys.argv[1:5])
data = b"Subject: prov\\r\\n\\r\\n" + b"x" * 76 + b"\\r\\n"
data = data * max(1, size // len(data))
with tempfile.TemporaryDirectory() as tmp:
    db = sqlite3.connect(Path(tmp) / "l.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE s (a TEXT PRIMARY KEY, state TEXT)")
    db.executemany("INSERT INTO s VALUES (?, 'queued')", [(f"m{i}",) for i in range(n)])
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(n):
            if ledger:  # one commit: the last one sent, this one about to go
                db.execute("BEGIN IMMEDIATE")
                db.execute("UPDATE s SET state = 'sent' WHERE a = ?", (f"m{i - 1}",))
                db.execute("UPDATE s SET state = 'pending' WHERE a = ?", (f"m{i}",))
                db.execute("COMMIT")
            client.sendmail("a@example.se", f"m{i}@example.se", data)
        if ledger:
            db.execute("UPDATE s SET state = 'sent' WHERE a = ?", (f"m{n - 1}",))
    print(n / (time.perf_counter() - start))
"""


def smtp_floor(n: int, size: int, ledger: bool, kind: str) -> float:
    """Return messages/s of a bare smtplib loop (with the ledger's one commit per message).

    The loop runs in its own process, as `send` does, against a local server of the kind
    given (see benchmarks.send.server); every message must arrive.
    """
    from benchmarks.send import server

    with server(kind) as (port, count):
        args = [str(port), str(n), str(size), str(int(ledger))]
        done = subprocess.run(
            [sys.executable, "-c", FLOOR_SEND, *args], capture_output=True, text=True, check=True
        )
        got = count(n)
    assert got == n, (got, n, kind)
    return float(done.stdout.strip())


DKIM_RECIPIENTS = 200  # signing costs milliseconds a message: fewer keep the run short


def sending(n: int, repeat: int) -> dict[str, float | str]:
    """Return the list send's rates and their floors, each the median of repeat runs taken
    in turns (one of each per round), so that the machine's load weighs on all alike.

    The fast server is smtp-sink where installed (see benchmarks.send.fast_server); the same
    send and the same bare loop against aiosmtpd show what that server itself costs.
    """
    from benchmarks.send import AIOSMTPD, fast_server, list_send

    kind = fast_server()
    size = message_size()
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name, measure in (
            ("rate", lambda: _rate(n, list_send(n, kind=kind))),
            ("bare", lambda: smtp_floor(n, size, False, kind)),
            ("ledger", lambda: smtp_floor(n, size, True, kind)),
            ("rate_aiosmtpd", lambda: _rate(n, list_send(n, kind=AIOSMTPD))),
            ("bare_aiosmtpd", lambda: smtp_floor(n, size, False, AIOSMTPD)),
            ("dkim", lambda: _rate(DKIM_RECIPIENTS, list_send(DKIM_RECIPIENTS, True, kind))),
        ):
            runs.setdefault(name, []).append(measure())
    figures: dict[str, float | str] = {k: statistics.median(v) for k, v in runs.items()}
    return figures | {"size": size, "server": kind}


def _rate(n: int, run: tuple[float, int]) -> float:
    wall, count = run
    assert count == n, (count, n)  # every message arrived
    return n / wall


def message_size() -> int:
    """Return the size of one message of the send benchmark's issue, as sent."""
    from benchmarks.send import FIXTURE, ISSUE
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.delivery import send

    content = load_content(FIXTURE).content
    template = send.prepare(content, send.find_issue(content, ISSUE))
    url = "https://example.se/avsluta?t=" + "x" * 64
    return len(send._wired(template, "m1@kommun1.example.se", "M 1", url, "<a@b>"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="nyhetsbrev-figures-"))
    try:
        print(table(work, args.years, args.repeat, args.recipients))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def table(work: Path, years: int, repeat: int, recipients: int) -> str:
    load_before = os.getloadavg()
    b = builds(work, years, repeat)
    small = builds(work, 1, repeat) if years > 1 else b
    issue_ms, mjml_ref = one_issue(work, repeat)
    s = sending(recipients, repeat)
    from benchmarks.preview import rerender_median

    preview = rerender_median()
    load_after = os.getloadavg()
    per_item = (b["clean"] - small["clean"]) / max(1, b["items"] - small["items"]) * 1000
    rows = [
        (
            f"rebuild after editing one item, {years} years",
            f"{b['edit']:.2f} s",
            f"clean build {b['clean']:.2f} s; floor {b['floor']:.2f} s",
            "≤ 0.4 s",
        ),
        (
            f"rebuild with nothing changed, {years} years",
            f"{b['unchanged']:.2f} s",
            f"floor (start Python, read sources, write outputs) {b['floor']:.2f} s",
            "≤ 0.3 s",
        ),
        (
            f"full clean build, {years} years ({b['items']} items)",
            f"{b['clean']:.2f} s",
            f"floor {b['floor']:.2f} s; 1 year {small['clean']:.2f} s; "
            f"{per_item:.2f} ms per extra item",
            "≤ 2.0 s, linear",
        ),
        (
            "one issue, Markdown → html + txt + eml, warm",
            f"{issue_ms:.1f} ms",
            mjml_ref,
            "≤ 12 ms",
        ),
        (
            f"list send to 127.0.0.1 ({s['server']}), {recipients} recipients, ledger kept",
            f"{s['rate']:.0f} msg/s",
            f"bare smtplib loop, same size ({s['size'] / 1024:.0f} KB), own process, to "
            f"{s['server']}: {s['bare']:.0f} msg/s, with the ledger's commit "
            f"{s['ledger']:.0f} msg/s; to aiosmtpd (a thread of the benchmark): bare loop "
            f"{s['bare_aiosmtpd']:.0f} msg/s, the list send {s['rate_aiosmtpd']:.0f} msg/s",
            "≥ 400 msg/s",
        ),
        (
            f"the same list send, each message signed with DKIM ({DKIM_RECIPIENTS} recipients)",
            f"{s['dkim']:.0f} msg/s",
            "dkimpy, its 2048-bit RSA step by OpenSSL, for each message",
            "",
        ),
        (
            f"peak memory, {years}-year clean build, whole process tree",
            f"{b['peak_mb']:.0f} MiB",
            f"1 year: {small['peak_mb']:.0f} MiB",
            "≤ 150 MiB",
        ),
        ("preview re-render after an edit", f"{preview:.0f} ms", "33 ms before", "≤ 33 ms"),
    ]
    lines = [
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"(2 cores shared); medians of {repeat} runs",
        "",
        "| figure | measured | reference (same run) | target |",
        "|---|---:|---|---|",
    ]
    lines += [f"| {a} | {m} | {r} | {t} |" for a, m, r, t in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
