"""DKIM signing (RFC 6376) of the bytes that go out, with dkimpy.

The signature covers the headers a receiver and a one-click unsubscribe rely on, named one by
one (dkimpy's default list leaves List-Unsubscribe-Post out). The message is signed as the
final bytes and the signature is put in front of them: nothing is folded or re-encoded after
signing.

dkimpy computes the RSA signature with Python's integers (about 90 % of its time per
message). Where the `cryptography` package is installed, that one step is OpenSSL's
instead: RSASSA-PKCS1-v1_5 is deterministic, so the signature bytes are the same, and each
key's first message is signed both ways and compared before the faster one is trusted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

    key, settings = private_key(), site.dkim

    def signature() -> bytes:
        return bytes(
            dkim.sign(
                data,
                settings.selector.encode(),
                settings.domain.encode(),
                key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(SIGNED_HEADERS),
                linesep=b"\r\n",
            )
        )

    try:
        trusted = _OPENSSL_PROVEN.get(key)
        if trusted is None:
            trusted = _OPENSSL_PROVEN[key] = _proven(dkim, key)
        if trusted:
            with _rsa(dkim, _openssl_rsa()):
                return signature() + data
        return signature() + data
    except dkim.DKIMException as e:
        raise SigningError(f"brevet kunde inte signeras med DKIM ({e})") from None


_OPENSSL_PROVEN: dict[bytes, bool] = {}  # key -> whether OpenSSL signed as dkimpy does


def _proven(dkim: Any, key: bytes) -> bool:
    """Return whether OpenSSL's RSA step gives dkimpy's own bytes for this key.

    The step is compared on its own, on one digest: a whole signature carries the time of
    signing (t=), which may change between two signatures.
    """
    fast = _openssl_rsa()
    if fast is None:
        return False
    try:
        pk = dkim.crypto.parse_pem_private_key(key)
        digest = hashlib.sha256(b"nyhetsbrev")
        return bool(fast(digest.copy(), pk) == dkim.crypto.RSASSA_PKCS1_v1_5_sign(digest, pk))
    except Exception:  # a key OpenSSL takes otherwise (or not at all): dkimpy's own step
        return False


@contextlib.contextmanager
def _rsa(dkim: Any, step: Callable[..., bytes] | None) -> Iterator[None]:
    """Let dkimpy compute its RSA step with step while the block runs."""
    own = dkim.RSASSA_PKCS1_v1_5_sign
    dkim.RSASSA_PKCS1_v1_5_sign = step or own
    try:
        yield
    finally:
        dkim.RSASSA_PKCS1_v1_5_sign = own


@functools.cache
def _openssl_rsa() -> Callable[..., bytes] | None:
    """Return dkimpy's RSASSA_PKCS1_v1_5_sign(hash, key) done by OpenSSL, or None without
    the cryptography package."""
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
    except ImportError:
        return None
    keys: dict[int, rsa.RSAPrivateKey] = {}
    algorithms = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}

    def sign(digest: Any, pk: dict[str, int]) -> bytes:
        key = keys.get(pk["modulus"])
        if key is None:
            public = rsa.RSAPublicNumbers(pk["publicExponent"], pk["modulus"])
            numbers = rsa.RSAPrivateNumbers(
                pk["prime1"],
                pk["prime2"],
                pk["privateExponent"],
                pk["exponent1"],
                pk["exponent2"],
                pk["coefficient"],  # q⁻¹ mod p in PKCS #1, as iqmp
                public,
            )
            key = keys[pk["modulus"]] = numbers.private_key()
        prehashed = utils.Prehashed(algorithms[digest.name]())
        return key.sign(digest.digest(), padding.PKCS1v15(), prehashed)

    return sign


def check(site: Site) -> None:
    """Refuse a send whose [dkim] key is missing or unreadable, before anything goes out."""
    if site.dkim is not None:
        private_key()
