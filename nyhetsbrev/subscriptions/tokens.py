"""Opaque, URL-safe tokens for the subscription service's links.

A token is base64url(subscriber id, 16 bytes + HMAC-SHA256 tag, 32 bytes): 64 characters,
no address in it. The tag covers a purpose ("confirm", "unsubscribe") and, for a
confirmation, the nonce of the sign-up it confirms, so a token for one purpose or an old
sign-up is refused for another. The key is NYHETSBREV_UNSUBSCRIBE_SECRET; tags are compared
in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from nyhetsbrev.errors import NyhetsbrevError

SECRET_ENV = "NYHETSBREV_UNSUBSCRIBE_SECRET"
MIN_SECRET_BYTES = 32
CONFIRM, UNSUBSCRIBE = "confirm", "unsubscribe"
PURPOSES = (CONFIRM, UNSUBSCRIBE)
ID_BYTES = 16
TAG_BYTES = 32


class SecretError(NyhetsbrevError):
    """The secret is missing or too short to key the tokens."""


def check_secret(secret: str) -> bytes:
    """Return the secret as bytes; raise a Swedish error when it is unset or under 32 bytes."""
    key = secret.encode("utf-8")
    if not key:
        raise SecretError(
            f"miljövariabeln {SECRET_ENV} är inte satt; sätt en slumpmässig hemlighet på "
            f"minst {MIN_SECRET_BYTES} byte, t.ex. från `openssl rand -base64 48`"
        )
    if len(key) < MIN_SECRET_BYTES:
        raise SecretError(
            f"{SECRET_ENV} är för kort ({len(key)} byte); den ska vara minst "
            f"{MIN_SECRET_BYTES} byte, t.ex. från `openssl rand -base64 48`"
        )
    return key


def secret_from_env() -> bytes:
    """Return the checked secret from the environment."""
    return check_secret(os.environ.get(SECRET_ENV, ""))


def _tag(key: bytes, purpose: str, subscriber: bytes, nonce: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    message = b"nyhetsbrev-token\0" + purpose.encode() + b"\0" + subscriber + b"\0" + nonce.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def make(key: bytes, purpose: str, subscriber: str, nonce: str = "") -> str:
    """Return the token for this subscriber id (32 hex digits), purpose and nonce."""
    raw = bytes.fromhex(subscriber)
    return base64.urlsafe_b64encode(raw + _tag(key, purpose, raw, nonce)).decode().rstrip("=")


def subscriber_of(token: str) -> str | None:
    """Return the subscriber id a well-formed token names (not yet verified), else None."""
    if len(token) != 64 or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != ID_BYTES + TAG_BYTES:
        return None
    return raw[:ID_BYTES].hex()


def verify(key: bytes, token: str, purpose: str, nonce: str = "") -> str | None:
    """Return the subscriber id when token is genuine for purpose and nonce, else None."""
    subscriber = subscriber_of(token)
    if subscriber is None:
        return None
    # Re-encoding catches a token altered in the padding bits of its last character.
    expected = make(key, purpose, subscriber, nonce)
    return subscriber if hmac.compare_digest(expected.encode(), token.encode()) else None


def keyed_hash(key: bytes, address: str) -> str:
    """Return the keyed hash kept for an erased address (hex); unreadable without the key."""
    return hmac.new(
        key, b"nyhetsbrev-erased\0" + address.lower().encode(), hashlib.sha256
    ).hexdigest()
