"""Each recipient's message as sent, without building and folding a whole message per recipient.

send.wire(send.personal(...)) builds an EmailMessage for every recipient: it parses and
folds every header (the sender's non-ASCII name each time) and encodes both bodies as
quoted-printable. Most of that is the same for every recipient. A Wire builds one message
with marked values, keeps its bytes in pieces, and per recipient folds only the headers
that differ (To, Date, Message-ID, List-Unsubscribe) and encodes only the body lines that
hold the unsubscribe URL. Quoted-printable encodes line by line, so the result is the same
bytes; Wire.check() compares with the full path for a recipient, and a Wire whose check
fails (the message's layout changed) is not used.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import html
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.quoprimime import body_encode
from email.utils import format_datetime

from nyhetsbrev.content.models import STOCKHOLM

VARIABLE = ("To", "Date", "Message-ID", "List-Unsubscribe")
SAMPLE_TO = "mottagare@exempel.invalid"
SAMPLE_ID = "<prov.mottagare@exempel.invalid>"
SAMPLE_URL = "https://avregistrering.invalid/prov-4b1d"
TEXT, HTML, BOUNDARY = "\0text", "\0html", "\0boundary"  # slots in Wire.segments
SAMPLE_DATE = dt.datetime(2000, 1, 1, 8, 0, tzinfo=STOCKHOLM)
MAX_LINE = 78  # email.policy.SMTP's, with which personal() encodes the bodies
# Values the policy folds into "Name: value" unchanged (printable ASCII, single spaces, no
# encoded word, a line far below the 998 limit): parsing each header per recipient costs more
# than the rest of the message. tests/test_wire.py holds this against the policy. Date is
# the same for a second's messages: its folded form is kept while it lasts.
_DOT_ATOM = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
PLAIN = {
    "To": re.compile(rf"(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)* <{_DOT_ATOM}>|{_DOT_ATOM})"),
    "Message-ID": re.compile(rf"<{_DOT_ATOM}>"),
    "List-Unsubscribe": re.compile(r"<[!-~]+>(?:, <[!-~]+>)*"),
}
PLAIN_LENGTH = 900


class Layout(Exception):
    """The sample message is not laid out as Wire expects: use the full path."""


class Wire:
    """The constant parts of one template's messages, ready to be joined per recipient."""

    def __init__(self, template: object, placeholder: str, subject_prefix: str = "") -> None:
        from nyhetsbrev.delivery.send import personal, wire

        self.template = template
        self.placeholder = placeholder
        self.subject_prefix = subject_prefix
        self.policy = email.policy.SMTP.clone(max_line_length=998)
        self._date = ("", b"")  # the last Date value and its folded header
        text, html_body = template.text, template.html  # type: ignore[attr-defined]
        self.text_lines = _Lines.of(text, placeholder)
        self.html_lines = _Lines.of(html_body, html.escape(placeholder, quote=True))
        sample_msg: EmailMessage = personal(
            template,  # type: ignore[arg-type]
            SAMPLE_TO,
            "",
            SAMPLE_URL,
            SAMPLE_ID,
            subject_prefix=subject_prefix,
            date=SAMPLE_DATE,
        )
        sample = wire(sample_msg)
        head, blank, body = sample.partition(b"\r\n\r\n")
        if not blank:
            raise Layout("no end of headers")
        head += b"\r\n"
        segments: list[bytes | str] = []
        for name, value in sample_msg.items():
            folded = self.policy.fold_binary(name, value)
            if not head.startswith(folded):
                raise Layout(f"header {name} not where expected")
            head = head[len(folded) :]
            segments.append(name if name in VARIABLE else folded)
        if head:
            raise Layout("headers left over")
        sample_text = self.text_lines.encoded(SAMPLE_URL)
        sample_html = self.html_lines.encoded(html.escape(SAMPLE_URL, quote=True))
        before, between, after = _split(b"\r\n" + body, [sample_text, sample_html])
        segments += [before, TEXT, between, HTML, after]
        boundary = sample_msg.get_boundary() or ""
        self.digest = _Digest(text, html_body, placeholder)
        digest = self.digest.of(SAMPLE_URL)
        if digest != _digest(template, SAMPLE_URL, placeholder):
            raise Layout("the boundary's digest is not the bodies'")
        if len(boundary) < 32 or not boundary.endswith(digest):
            raise Layout("the boundary is not made from the bodies")
        self.boundary_prefix = boundary[:-32]
        self.segments: list[bytes | str] = []
        for segment in segments:
            if isinstance(segment, str):
                self.segments.append(segment)
                continue
            for n, piece in enumerate(segment.split(boundary.encode())):
                self.segments += [BOUNDARY, piece] if n else [piece]

    def message(
        self, to: str, name: str, unsubscribe: str, msg_id: str, date: dt.datetime | None = None
    ) -> bytes:
        """Return wire(personal(template, to, name, unsubscribe, msg_id, prefix, date))."""
        escaped = html.escape(unsubscribe, quote=True)
        values = {
            "To": to_value(to, name),
            "Date": format_datetime(date or dt.datetime.now(STOCKHOLM)),
            "Message-ID": msg_id,
            "List-Unsubscribe": self._unsubscribe(unsubscribe),
        }
        filled = {
            BOUNDARY: (self.boundary_prefix + self.digest.of(unsubscribe)).encode(),
            TEXT: self.text_lines.encoded(unsubscribe),
            HTML: self.html_lines.encoded(escaped),
        }
        return b"".join(
            s if isinstance(s, bytes) else filled[s] if s in filled else self._fold(s, values[s])
            for s in self.segments
        )

    def _fold(self, name: str, value: str) -> bytes:
        """Return the header as the policy folds it; a plain one (see PLAIN) as it stands."""
        if name == "Date" and self._date[0] == value:
            return self._date[1]
        line = f"{name}: {value}"
        plain = PLAIN.get(name)
        if plain and len(line) <= PLAIN_LENGTH and plain.fullmatch(value) and "=?" not in value:
            return line.encode("ascii") + b"\r\n"
        if len(value.splitlines()) > 1:  # as the policy refuses it when personal() sets it
            raise ValueError("Header values may not contain linefeed or carriage return characters")
        folded = self.policy.fold_binary(name, self.policy.header_factory(name, value))
        if name == "Date":
            self._date = (value, folded)
        return folded

    def _unsubscribe(self, unsubscribe: str) -> str:
        mailto = self.template.site.unsubscribe_mailto  # type: ignore[attr-defined]
        return f"<{unsubscribe}>, <mailto:{mailto}>"

    def check(self, to: str, name: str, unsubscribe: str, msg_id: str) -> bool:
        """Return whether this Wire gives the full path's bytes for one recipient."""
        from nyhetsbrev.delivery.send import personal, wire

        date = dt.datetime.now(STOCKHOLM).replace(microsecond=0)
        full = wire(
            personal(
                self.template,  # type: ignore[arg-type]
                to,
                name,
                unsubscribe,
                msg_id,
                subject_prefix=self.subject_prefix,
                date=date,
            )
        )
        return self.message(to, name, unsubscribe, msg_id, date) == full


# A display name that Address writes as it stands (no character it would quote) before an
# address it writes as it stands: str(Address(name, addr_spec=to)) without parsing `to`.
_NAME = re.compile(r"[\w'-]+(?: [\w'-]+)*")
PLAIN_ADDRESS = re.compile(_DOT_ATOM)


def to_value(to: str, name: str) -> str:
    """Return str(Address(name, addr_spec=to)), the To value personal() sets.

    Parsing the address is most of a message's header work; a plain one (tests/test_wire.py
    holds this against Address) is written as it stands.
    """
    if PLAIN_ADDRESS.fullmatch(to) and (not name or _NAME.fullmatch(name)):
        return f"{name} <{to}>" if name else to
    return str(Address(name, addr_spec=to))


class _Digest:
    """render.message()'s boundary digest for the bodies with a URL in the placeholder's
    place, hashing the bytes before the first placeholder once."""

    def __init__(self, text: str, body_html: str, placeholder: str) -> None:
        # (escape the URL?, the bytes after it) for each placeholder, in order
        pieces: list[tuple[bool, bytes]] = []
        head, *rest = text.split(placeholder)
        pieces += [(False, piece.encode()) for piece in rest]
        first, *rest = body_html.split(placeholder)
        if pieces:
            pieces[-1] = (False, pieces[-1][1] + first.encode())
        else:
            head += first
        pieces += [(True, piece.encode()) for piece in rest]
        self.start = hashlib.sha256(head.encode())
        self.pieces = pieces

    def of(self, unsubscribe: str) -> str:
        raw = unsubscribe.encode()
        escaped = html.escape(unsubscribe, quote=True).encode()
        h = self.start.copy()
        for escape, piece in self.pieces:
            h.update(escaped if escape else raw)
            h.update(piece)
        return h.hexdigest()[:32]


def _digest(template: object, unsubscribe: str, placeholder: str) -> str:
    """Return render.message()'s boundary digest for the substituted bodies."""
    text = template.text.replace(placeholder, unsubscribe)  # type: ignore[attr-defined]
    body_html = template.html.replace(  # type: ignore[attr-defined]
        placeholder, html.escape(unsubscribe, quote=True)
    )
    return hashlib.sha256((text + body_html).encode()).hexdigest()[:32]


def _split(body: bytes, samples: list[bytes]) -> list[bytes]:
    """Split body around each sample body (CRLF lines), in order; Layout if one is missing."""
    parts = []
    for crlf in samples:
        before, found, body = body.partition(crlf)
        if not found or crlf in body:
            raise Layout("a body is not where expected")
        parts.append(before)
    parts.append(body)
    return parts


class _Lines:
    """A body's quoted-printable lines: encoded once, but those holding the URL placeholder."""

    def __init__(self, lines: list[bytes | tuple[str]], placeholder: str) -> None:
        self.lines = lines
        self.placeholder = placeholder

    @classmethod
    def of(cls, body: str, placeholder: str) -> _Lines:
        marker = placeholder.encode("utf-8").decode("latin-1")
        lines: list[bytes | tuple[str]] = []
        run: list[str] = []  # constant lines, joined into one piece
        for line in body.encode("utf-8").splitlines():
            text = line.decode("latin-1")
            if marker not in text:
                run.append(_encode(text))
                continue
            if run:
                lines.append(_crlf("\n".join(run)))
                run = []
            lines.append((text,))
        if run:
            lines.append(_crlf("\n".join(run)))
        return cls(lines, marker)

    def encoded(self, value: str) -> bytes:
        """Return the body, with value for the placeholder, as personal() encodes it and
        wire() writes it (CRLF line ends)."""
        replacement = value.encode("utf-8").decode("latin-1")
        return (
            b"\r\n".join(
                line
                if isinstance(line, bytes)
                else _crlf(_encode(line[0].replace(self.placeholder, replacement)))
                for line in self.lines
            )
            + b"\r\n"
        )


def _crlf(encoded: str) -> bytes:
    return encoded.replace("\n", "\r\n").encode()


def _encode(line: str) -> str:
    return body_encode(line + "\n", MAX_LINE)[:-1]
