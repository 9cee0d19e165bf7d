"""The SMTP client send and doctor talk through: smtplib's, with a bound on each reply.

smtplib's timeout applies to each read from the socket, so a server that keeps one reply
going (endless "250-" lines, or a byte at a time) would hold a send without end and fill
its memory. Here a whole reply must arrive within the timeout and hold at most MAX_REPLY
bytes; otherwise the read fails as a timeout does, and smtplib drops the connection.
"""

from __future__ import annotations

import smtplib
import socket
import time
from typing import Any

MAX_REPLY = 64 * 1024  # bytes one reply may take: a server's longest real one is a few KB


class _BoundedReply:
    """The server's replies as smtplib reads them, each with one deadline and one size."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock, self.timeout = sock, timeout
        self.file = sock.makefile("rb")
        self.deadline, self.left = 0.0, MAX_REPLY

    def start(self) -> None:
        self.deadline, self.left = time.monotonic() + self.timeout, MAX_REPLY

    def readline(self, limit: int = -1) -> bytes:
        """Return a line as BufferedReader.readline does, from at most one read from the
        socket at a time, each within what is left of the reply's time."""
        line = b""
        while limit < 0 or len(line) < limit:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or self.left <= 0:
                raise TimeoutError("svaret tog för lång tid eller var för långt")
            self.sock.settimeout(remaining)
            try:
                data = self.file.peek()  # what is buffered, or one read from the socket
            finally:
                self.sock.settimeout(self.timeout)
            if not data:
                break  # the server closed the connection
            room = len(data) if limit < 0 else min(len(data), limit - len(line))
            end = data.find(b"\n", 0, room)
            taken = self.file.read(end + 1 if end >= 0 else room)
            line += taken
            self.left -= len(taken)
            if end >= 0:
                break
        return line

    def close(self) -> None:
        self.file.close()


class _Bounded:
    """getreply with _BoundedReply: mixed into smtplib's SMTP and SMTP_SSL."""

    sock: socket.socket | None
    file: Any
    timeout: float

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None:
            if not isinstance(self.file, _BoundedReply):
                self.file = _BoundedReply(self.sock, self.timeout)
            self.file.start()
        reply: tuple[int, bytes] = super().getreply()  # type: ignore[misc]  # smtplib's
        return reply


class BoundedSMTP(_Bounded, smtplib.SMTP):
    pass


class BoundedSMTP_SSL(_Bounded, smtplib.SMTP_SSL):  # noqa: N801  # named as smtplib's
    pass
