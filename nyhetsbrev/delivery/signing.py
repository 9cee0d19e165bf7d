"""DKIM signing (RFC 6376) of the bytes that go out, with dkimpy.

The signature covers the headers a receiver and a one-click unsubscribe rely on, named one by
one (dkimpy's default list leaves List-Unsubscribe-Post out). The message is signed as the
final bytes and the signature is put in front of them: nothing is folded or re-encoded after
signing.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from nyhetsbrev.content.models import Site
from nyhetsbrev.errors import NyhetsbrevError

KEY_ENV = "NYHETSBREV_DKIM_KEY"
SIGNED_HEADERS = (
    b"From",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"To",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
)


class SigningError(NyhetsbrevError):
    """[dkim] is set but the key cannot be used."""


def key_path() -> Path:
    """Return the private key's file from the environment; raise a Swedish error without one."""
    value = os.environ.get(KEY_ENV, "")
    if not value:
        raise SigningError(
            f"newsletter.toml: [dkim] är satt men miljövariabeln {KEY_ENV} är inte det; sätt "
            "den till sökvägen till den privata nyckeln (PEM), eller ta bort [dkim] om "
            "e-postservern signerar breven"
        )
    return Path(value)


@functools.lru_cache(maxsize=4)
def _key(path: str, mtime: float) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise SigningError(f"{path}: DKIM-nyckeln kan inte läsas ({e.strerror})") from None
    if b"PRIVATE KEY-----" not in data:
        raise SigningError(
            f"{path}: filen är ingen privat nyckel i PEM-format "
            '(den ska börja med "-----BEGIN PRIVATE KEY-----" eller '
            '"-----BEGIN RSA PRIVATE KEY-----")'
        )
    return data


def private_key() -> bytes:
    """Return the PEM private key named by the environment (read once per file version)."""
    path = key_path()
    try:
        mtime = path.stat().st_mtime
    except OSError as e:
        raise SigningError(f"{path}: DKIM-nyckeln kan inte läsas ({e.strerror})") from None
    return _key(str(path), mtime)


def sign(site: Site, data: bytes) -> bytes:
    """Return data with a DKIM-Signature header in front; data unchanged without [dkim]."""
    if site.dkim is None:
        return data
    import dkim  # a third of a second to import: only where a message is signed

    try:
        header = dkim.sign(
            data,
            site.dkim.selector.encode(),
            site.dkim.domain.encode(),
            private_key(),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
            linesep=b"\r\n",
        )
    except dkim.DKIMException as e:
        raise SigningError(f"brevet kunde inte signeras med DKIM ({e})") from None
    return bytes(header) + data


def check(site: Site) -> None:
    """Refuse a send whose [dkim] key is missing or unreadable, before anything goes out."""
    if site.dkim is not None:
        private_key()
