"""The subscription service, run for real: uvicorn on 127.0.0.1, aiosmtpd receiving the mail."""

from __future__ import annotations

import concurrent.futures
import email
import email.policy
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from .conftest import FIXTURES, REPO

SECRET = "en-testhemlighet-som-ar-minst-32-byte-lang"
ISSUE = "2022-10"
SERVICE_ENV = {"NYHETSBREV_UNSUBSCRIBE_SECRET": SECRET}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, envelope.content))
        return "250 2.0.0 Ok"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)
            for r, raw in self.messages
            if r == address
        ]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} in {timeout} s: {len(self.to(address))}")


class Smtp:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def configure(tree: Path, smtp_port: int, service_port: int, per_ip: int = 5) -> str:
    """Point the tree at the SMTP server and give it a [subscriptions] service; return its URL."""
    url = f"http://127.0.0.1:{service_port}"
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8").replace("port = 2525", f"port = {smtp_port}")
    text += f"""
[subscriptions]
url = "{url}"
pending_days = 7
signups_per_ip_per_hour = {per_ip}

[privacy]
controller = "Länsstyrelsen i Testlän"
contact = "dataskydd@example.se"
legal_basis = "Allmänt intresse: länsstyrelsens uppdrag att samordna arbetet i länet."
retention = "Så länge du prenumererar, och obekräftade anmälningar i en vecka."
"""
    toml.write_text(text, "utf-8")
    return url


class Service:
    """`subscribers serve` in its own process, as in production."""

    def __init__(self, tree: Path, port: int, log: Path):
        self.tree = tree
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        env = {**os.environ, **SERVICE_ENV}
        env.pop("NYHETSBREV_SMTP_PASSWORD", None)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(REPO / "build.py"), "subscribers", "serve"]
                + ["--root", str(self.tree), "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/integritet", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log.read_text("utf-8", "replace")
            time.sleep(0.1)
        raise AssertionError("the service did not start: " + self.log.read_text("utf-8"))

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.tree / ".nyhetsbrev" / "subscribers.sqlite", timeout=30)

    def status(self, address: str) -> str | None:
        db = self.db()
        try:
            row = db.execute(
                "SELECT status FROM subscribers WHERE address = ?", (address,)
            ).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def count(self, table: str = "subscribers") -> int:
        db = self.db()
        try:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            db.close()


def link(msg, kind: str) -> str:
    """Return the service link of this kind (bekrafta, avsluta) in the mail's plain text."""
    text = msg.get_body(("plain",)).get_content()
    found = re.findall(rf"http://127\.0\.0\.1:\d+/{kind}/[A-Za-z0-9_-]+", text)
    assert found, text
    return found[0]


@pytest.fixture(scope="module")
def smtp():
    s = Smtp()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, smtp):
    import shutil

    tree = tmp_path_factory.mktemp("tjanst") / "innehall"
    shutil.copytree(FIXTURES / "basic", tree)
    port = free_port()
    configure(tree, smtp.port, port)
    running = Service(tree, port, tree.parent / "tjanst.log").start()
    yield running
    running.kill()


def client_ip(n: int) -> dict[str, str]:
    """Headers that make the request come from another client (the proxy's X-Forwarded-For)."""
    return {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}


_ips = iter(range(1, 1_000_000))


def signup(service: Service, address: str, name: str = "", **more: str) -> httpx.Response:
    data = {"email": address, "name": name, "webbplats": "", **more}
    return httpx.post(service.url + "/", data=data, headers=client_ip(next(_ips)), timeout=30)


def subscribe(service: Service, smtp: Smtp, address: str) -> None:
    """Sign up and confirm (by the mail's link, POST)."""
    before = len(smtp.inbox.to(address))
    assert signup(service, address).status_code == 200
    mail = smtp.inbox.wait_for(address, before + 1)[-1]
    assert httpx.post(link(mail, "bekrafta"), timeout=10).status_code == 200
    assert service.status(address) == "active"
