"""Hostile SMTP servers against the pipelined and the one-by-one send (real sockets)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from nyhetsbrev.content.models import Smtp
from nyhetsbrev.delivery import send

Reply = Callable[[bytes], bytes]  # a command (lower-cased, stripped) -> the bytes written


@contextmanager
def scripted(reply: Reply, pipelining: bool) -> Iterator[tuple[int, list[bytes]]]:
    """A small SMTP server on 127.0.0.1 that answers each command with reply(command)
    and keeps every message body it takes after a 354."""
    bodies: list[bytes] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 skript\r\n")
            while line := self.rfile.readline():
                command = line.strip().lower()
                if command.startswith(b"ehlo"):
                    extra = b"250-PIPELINING\r\n" if pipelining else b""
                    self.wfile.write(b"250-skript\r\n" + extra + b"250 8BITMIME\r\n")
                    continue
                if command == b"quit":
                    self.wfile.write(b"221 Hej\r\n")
                    return
                answer = reply(command)
                self.wfile.write(answer)
                if command == b"data" and answer.startswith(b"354"):
                    body = []
                    while (part := self.rfile.readline()) not in (b".\r\n", b""):
                        body.append(part)
                    if part:  # a whole message, ended by its "." line
                        bodies.append(b"".join(body))
                        self.wfile.write(reply(b"."))

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield server.server_address[1], bodies
        finally:
            server.shutdown()


def _deliver(port: int, data: bytes = b"Subject: 1\r\n\r\nHej\r\n") -> send.Outcome:
    conn = send.Connection(
        Smtp("127.0.0.1", port, "none"), None, send.Policy(retries=1, wait=0.01, timeout=3)
    )
    try:
        return send.deliver(conn, "a@example.se", "b@example.se", data)
    finally:
        conn.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_extra_reply_to_mail_never_makes_an_unsent_message_sent(pipelining):
    """A server that says 250 twice to MAIL shifts every reply after it: the 250 that is
    RCPT's must not be taken for the message's acceptance (the body never went)."""

    def reply(command: bytes) -> bytes:
        if command.startswith(b"mail"):
            return b"250 OK\r\n250 OK igen\r\n"
        if command == b"data":
            return b"354 Skicka\r\n"
        return b"250 OK\r\n"

    with scripted(reply, pipelining) as (port, bodies):
        outcome = _deliver(port)
    assert outcome.state != "sent" or b"Hej" in b"".join(bodies), (outcome, bodies)


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_reply_to_the_message_that_is_no_reply_code_is_uncertain(pipelining):
    """After the message went out, a reply that is neither 2xx, 4xx nor 5xx (garbage, a
    354) does not say the server refused it: it may have it, so it is never sent again."""

    def reply(command: bytes) -> bytes:
        if command == b"data":
            return b"354 Skicka\r\n"
        if command == b".":
            return b"hmm, tack\r\n"
        return b"250 OK\r\n"

    with scripted(reply, pipelining) as (port, bodies):
        outcome = _deliver(port)
    assert len(bodies) == 1, (outcome, bodies)  # never a second copy
    assert outcome.state == "uncertain", outcome


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize("step", [b"mail", b"rcpt", b"data", b"."])
def test_a_huge_reply_is_no_traceback(pipelining, step):
    """A reply line longer than smtplib reads (8192) raises SMTPResponseException: it must
    end as an outcome (uncertain after the message, retried before), never escape."""

    def reply(command: bytes) -> bytes:
        if command.startswith(step):
            return b"250 " + b"x" * 10000 + b"\r\n"
        if command == b"data":
            return b"354 Skicka\r\n"
        return b"250 OK\r\n"

    with scripted(reply, pipelining) as (port, bodies):
        outcome = _deliver(port)
    assert len(bodies) <= 1
    if step == b".":
        assert outcome.state == "uncertain", outcome
    else:
        assert outcome.state == "failed", outcome


@pytest.mark.parametrize(
    "name, url",
    [
        ("Anna\u2028Berg", "https://e.se/x"),
        ("Anna\x0cBerg", "https://e.se/x"),
        ("Anna\x85Berg", "https://e.se/x"),
        ("Anna\x1cBerg", "https://e.se/x"),
        ("Anna\nBcc: smyg@example.se", "https://e.se/x"),
        ("Anna", "https://e.se/x\u2029y"),
        ("Anna", "https://e.se/x\x0by"),
    ],
)
def test_a_value_the_full_path_refuses_is_refused_by_the_kept_pieces(name, url):
    """personal() refuses a header value that str.splitlines() breaks (the policy's check):
    a name with a line separator, form feed or NEL fails that recipient alone. The kept
    pieces must not send it instead (a raw control character or encoded word in To)."""
    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.delivery.wire import Wire

    from .conftest import FIXTURES

    content = load_content(FIXTURES / "basic").content
    template = send.prepare(content, send.find_issue(content, "2022-10"))
    with pytest.raises(ValueError):
        send.personal(template, "a@example.se", name, url, "<a@b>")
    with pytest.raises(ValueError):
        Wire(template, send.PLACEHOLDER).message("a@example.se", name, url, "<a@b>")


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_extra_reply_after_a_message_never_shifts_the_next_one_into_sent(pipelining):
    """A server that answers the message twice leaves one reply behind: the next message
    must go out and be answered in step (on a new connection), once."""

    def reply(command: bytes) -> bytes:
        if command == b"data":
            return b"354 Skicka\r\n"
        if command == b".":
            return b"250 Tog emot\r\n250 Tog emot igen\r\n"
        return b"250 OK\r\n"

    with scripted(reply, pipelining) as (port, bodies):
        conn = send.Connection(
            Smtp("127.0.0.1", port, "none"), None, send.Policy(retries=2, wait=0.01, timeout=3)
        )
        try:
            outcomes = [
                send.deliver(conn, "a@example.se", f"m{n}@example.se", f"Nr {n}\r\n".encode())
                for n in range(3)
            ]
        finally:
            conn.close()
    for n, outcome in enumerate(outcomes):
        assert outcome.state == "sent", outcome
        assert bodies.count(f"Nr {n}\r\n".encode()) == 1, bodies


@pytest.mark.parametrize("kind", ["endless", "trickle"])
def test_a_reply_that_never_ends_is_given_up_within_the_timeout(kind):
    """smtplib's timeout is per read: a server that keeps one reply going (endless "250-"
    lines, or a byte at a time) held the send without end and grew its memory. A whole
    reply now has one deadline and a size limit."""
    import time

    stop = threading.Event()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 seg\r\n")
            self.rfile.readline()  # EHLO
            try:
                if kind == "endless":
                    while not stop.is_set():
                        self.wfile.write(b"250-" + b"x" * 200 + b"\r\n")
                else:
                    for byte in b"250-" + b"x" * 1000:
                        if stop.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        time.sleep(0.5)
            except OSError:
                return

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler) as server:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        conn = send.Connection(
            Smtp("127.0.0.1", server.server_address[1], "none"),
            None,
            send.Policy(retries=0, wait=0.01, timeout=1),
        )
        timer = threading.Timer(8, stop.set)
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(send.DeliveryError):
                conn.open()
        finally:
            stop.set()
            timer.cancel()
            conn.close()
            server.shutdown()
        assert time.monotonic() - started < 5


def test_a_server_that_takes_a_recipient_after_refusing_mail_gets_no_empty_message():
    """A broken server that refuses MAIL (451) but takes RCPT and starts DATA: ending
    the DATA with "." would hand it an empty message for the recipient, which the
    one-by-one send (no RCPT after a refused MAIL) never does. The recipient gets the
    message once, and nothing else."""
    refused = [True]

    def reply(command: bytes) -> bytes:
        if command.startswith(b"mail") and refused[0]:
            refused[0] = False
            return b"451 4.3.0 Inte nu\r\n"
        if command == b"data":
            return b"354 Skicka\r\n"
        return b"250 OK\r\n"

    with scripted(reply, True) as (port, bodies):
        outcome = _deliver(port)
    assert outcome.state == "sent", outcome
    assert bodies == [b"Subject: 1\r\n\r\nHej\r\n"], bodies
