"""An email policy that parses and folds each distinct header value once per process.

Most of a built message's headers are the same in every issue: From and To (the sender's
non-ASCII name, folded as encoded words: about two milliseconds each time), Reply-To,
List-Id, List-Unsubscribe and the body parts' own headers. email.policy.SMTP parses every
value when it is set and folds it again when the message is written. SMTP here keeps the
header object made for a (name, value) and, on that object, its folded bytes per policy;
the bytes are the same as email.policy.SMTP's.

body_encode() is email.quoprimime.body_encode with its per-character lookup replaced by one
pass per kind of character to quote; render.message_bytes() uses it for the two bodies.
"""

from __future__ import annotations

import threading
from email import quoprimime
from email.headerregistry import Address
from email.policy import EmailPolicy
from typing import Any

KEPT = 1024  # distinct header values kept (a build has a few per issue)
_FOLDS = "_nyhetsbrev_folds"  # the attribute that holds a kept header's folded bytes

_stored: dict[tuple[Any, ...], tuple[str, Any]] = {}
_lock = threading.Lock()


def _key(name: str, value: Any) -> tuple[Any, ...] | None:
    if type(value) is str:
        return (name, value)
    if type(value) is Address:
        return (name, Address, value.display_name, value.username, value.domain)
    return None  # a header object, a group, a list of addresses: not kept


class _Once(EmailPolicy):
    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        key = _key(name, value)
        if key is None:
            return super().header_store_parse(name, value)
        key += (self.header_factory,)
        found = _stored.get(key)
        if found is None:
            found = super().header_store_parse(name, value)
            setattr(found[1], _FOLDS, {})
            with _lock:
                if len(_stored) >= KEPT:
                    _stored.clear()
                _stored[key] = found
        return found

    def fold_binary(self, name: str, value: Any) -> bytes:
        folds = getattr(value, _FOLDS, None)
        if folds is None:
            return super().fold_binary(name, value)
        key = (name, *sorted(self.__dict__.items()))  # the policy's settings
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold_binary(name, value)
        return bytes(folded)


SMTP = _Once(linesep="\r\n")  # email.policy.SMTP's settings


# -- bodies ---------------------------------------------------------------------------------
# email.quoprimime.body_encode quotes each character through str.translate with a list: a
# lookup per character, most of a built message's time. Only a few kinds of character are
# quoted, and a message holds few of them: each one present is replaced in one pass.
_BODY_MAP: list[str] = quoprimime._QUOPRI_BODY_ENCODE_MAP  # type: ignore[attr-defined]
_UNQUOTED = bytes(c for c in range(256) if _BODY_MAP[c] == chr(c))
_EQUALS = ord("=")
_QUOTED = [quoted.encode("ascii") for quoted in _BODY_MAP]  # below 256, all ASCII


def _quote_all(raw: bytes) -> str:
    """Return raw.decode("latin-1").translate(quoprimime's body map), found faster."""
    present = set(raw.translate(None, _UNQUOTED))
    if _EQUALS in present:  # first: the others' quoted forms start with "="
        raw = raw.replace(b"=", _QUOTED[_EQUALS])
        present.discard(_EQUALS)
    for c in present:
        raw = raw.replace(bytes((c,)), _QUOTED[c])
    return raw.decode("ascii")


def body_encode(body: str, maxlinelen: int = 76) -> str:
    """Return quoprimime.body_encode(body, maxlinelen): the same text, found faster.

    body holds characters below 256 only (bytes decoded as latin-1), as email's own
    callers hand it over.
    """
    try:
        raw = body.encode("latin-1")
    except UnicodeEncodeError:
        raw = b""
    if maxlinelen < 4 or not raw:
        return str(quoprimime.body_encode(body, maxlinelen))
    body = _quote_all(raw)
    # What follows is body_encode's own line breaking, unchanged, with eol "\n".
    soft_break = "=\n"
    maxlinelen1 = maxlinelen - 1
    encoded_body: list[str] = []
    append = encoded_body.append
    for line in body.splitlines():
        start = 0
        laststart = len(line) - 1 - maxlinelen
        while start <= laststart:
            stop = start + maxlinelen1
            if line[stop - 2] == "=":  # never break an escape sequence
                append(line[start : stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":  # whitespace at the end of a line is quoted
            room = start - laststart
            if room >= 3:
                q = quoprimime.quote(line[-1])
            elif room == 2:
                q = line[-1] + soft_break
            else:
                q = soft_break + quoprimime.quote(line[-1])
            append(line[start:-1] + q)
        else:
            append(line[start:])
    if body[-1] in "\r\n":
        append("")
    return "\n".join(encoded_body)
