"""A real SMTP server for the delivery tests: aiosmtpd on a free port of 127.0.0.1.

`Recorder` keeps every accepted message and misbehaves on request; the `server` and `site`
fixtures (in conftest.py) start one `Server` per test and point a fixture tree at it.
"""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

SECRET = "test-hemlighet-som-är-minst-32-byte-lång"
PASSWORD = "Lösen-som-aldrig-syns-9731"


class Recorder:
    """An aiosmtpd handler that keeps every accepted message and misbehaves on request."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []  # (recipient, raw message)
        self.reject: dict[str, str] = {}  # recipient -> permanent reply at RCPT
        self.transient: dict[str, int] = {}  # recipient -> how many 451 replies first
        self.drop_every: int | None = None  # close the connection after this many messages
        self.refuse = False  # close every new connection at EHLO
        self.delay = 0.0  # seconds between receiving a message and replying 250
        self.connections = 0
        self._since_connect = 0
        self.pipelining = False  # offer PIPELINING (RFC 2920) in the EHLO reply
        self.pipelined = 0  # MAIL commands that came with their RCPT and DATA behind them

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        if self.refuse:
            server.transport.close()
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads command by command: it takes them pipelined
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        waiting = bytes(server._reader._buffer).lower()  # what the client sent after MAIL
        if waiting.startswith(b"rcpt to:") and waiting.rstrip().endswith(b"data"):
            self.pipelined += 1
        if self.drop_every and getattr(session, "count", 0) >= self.drop_every:
            server.transport.close()  # a real drop: no reply at all
            return "421 4.3.0 going away"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return self.reject[address]
        if self.transient.get(address, 0) > 0:
            self.transient[address] -= 1
            return "451 4.7.1 Försök igen senare"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, envelope.content))
        session.count = getattr(session, "count", 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return f"250 2.0.0 Ok: queued as Q{len(self.messages)}"

    def by_recipient(self) -> collections.Counter[str]:
        return collections.Counter(r for r, _ in self.messages)

    def parsed(self) -> list[tuple[str, email.message.EmailMessage]]:
        return [
            (r, email.message_from_bytes(raw, policy=email.policy.default))
            for r, raw in self.messages
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """aiosmtpd on a free port of 127.0.0.1, with a Recorder; AUTH and STARTTLS on request."""

    def __init__(self, auth: bool = False, tls: ssl.SSLContext | None = None):
        self.handler = Recorder()
        self.logins: list[tuple[bytes, bytes]] = []
        self.password = PASSWORD
        options: dict = {}
        if tls is not None:
            options |= {"tls_context": tls, "require_starttls": False}
        if auth:
            options |= {"auth_require_tls": False, "authenticator": self._authenticate}
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def _authenticate(self, server, session, envelope, mechanism, data):
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == self.password.encode(), handled=False)

    def stop(self) -> None:
        self.controller.stop()


def point(tree: Path, port: int, user: str = "") -> None:
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8").replace("port = 2525", f"port = {port}")
    toml.write_text(text.replace('user = ""', f'user = "{user}"'), "utf-8")


@contextmanager
def running(auth: bool = False, tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    """Run a Server for the length of the with block."""
    server = Server(auth, tls)
    try:
        yield server
    finally:
        server.stop()


def certificate(folder: Path, days: int = 2) -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1 in folder; return (cert, key)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days)]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key
