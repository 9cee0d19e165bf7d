"""The subscription service benchmark: requests per second and latency on 127.0.0.1.

Starts `subscribers serve` in its own process (uvicorn, one worker, as in production) with
aiosmtpd receiving the confirmation mails, imports N subscribers, then times N one-click
unsubscribe POSTs (RFC 8058) and N sign-up POSTs from C concurrent clients. Each request is
one register transaction with fsync, so the figures are bounded by the disk as much as by
Python. Not a test: it prints a table.

    python benchmarks/service.py [--requests 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nyhetsbrev.subscriptions import tokens  # noqa: E402
from tests.test_service import SECRET, Inbox, configure, free_port  # noqa: E402


def timed(jobs: list, one, concurrency: int) -> tuple[float, list[float]]:
    """Run one(job) for every job from `concurrency` threads; return (seconds, latencies)."""
    clients = [httpx.Client(timeout=60) for _ in range(concurrency)]

    def run(index_job: tuple[int, object]) -> float:
        index, job = index_job
        started = time.perf_counter()
        status = one(clients[index % concurrency], job)
        assert status == 200, status
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(run, enumerate(jobs)))
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return elapsed, latencies


def row(name: str, elapsed: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"| {name} | {len(latencies)} | {len(latencies) / elapsed:.0f} | "
        f"{statistics.median(ordered) * 1000:.1f} | {p99 * 1000:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nyhetsbrev-tjanst-"))
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    service = None
    try:
        tree = work / "innehall"
        shutil.copytree(REPO / "tests" / "fixtures" / "basic", tree)
        port = free_port()
        url = configure(tree, smtp.port, port, per_ip=0)
        listed = tree / "lista.csv"
        leaving = [f"bank{i:05d}@example.se" for i in range(args.requests)]
        listed.write_text("email\n" + "\n".join(leaving) + "\n", "utf-8")
        env = {**os.environ, "NYHETSBREV_UNSUBSCRIBE_SECRET": SECRET}
        build = [sys.executable, str(REPO / "build.py")]
        subprocess.run(
            [*build, "subscribers", "import", str(listed), "--root", str(tree)],
            env=env,
            check=True,
            capture_output=True,
        )
        db = sqlite3.connect(tree / ".nyhetsbrev" / "subscribers.sqlite")
        ids = dict(db.execute("SELECT address, id FROM subscribers"))
        db.close()
        key = SECRET.encode()
        urls = [f"{url}/avsluta/{tokens.make(key, tokens.UNSUBSCRIBE, ids[a])}" for a in leaving]
        service = subprocess.Popen(
            [*build, "subscribers", "serve", "--root", str(tree), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                httpx.get(url + "/integritet", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        one_click = b"List-Unsubscribe=One-Click"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        unsub = timed(
            urls,
            lambda c, u: c.post(u, content=one_click, headers=form).status_code,
            args.concurrency,
        )
        joining = [f"ny{i:05d}@example.se" for i in range(args.requests)]
        signup = timed(
            joining,
            lambda c, a: c.post(url + "/", data={"email": a, "webbplats": ""}).status_code,
            args.concurrency,
        )
        print(
            f"Subscription service on 127.0.0.1, {args.concurrency} concurrent clients, "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPU"
        )
        print("| request | n | requests/s | median ms | p99 ms |")
        print("|---|---|---|---|---|")
        print(row("POST /avsluta/<token> (one-click)", *unsub))
        print(row("POST / (sign-up)", *signup))
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=10)
        smtp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
