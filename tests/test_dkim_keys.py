"""DKIM's OpenSSL step with unusual keys gives dkimpy's exact signature."""

from __future__ import annotations

import dkim
import pytest

from nyhetsbrev.delivery import signing

from .test_dkim import SELECTOR, add_dkim


@pytest.mark.parametrize("bits, exponent", [(3072, 3), (4096, 65537), (2048, 3)])
def test_an_unusual_key_signs_as_dkimpy(tree, monkeypatch, tmp_path, bits, exponent):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from nyhetsbrev.delivery.send import load_site

    key = rsa.generate_private_key(public_exponent=exponent, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    add_dkim(tree)
    monkeypatch.setenv(signing.KEY_ENV, str(path))
    site = load_site(tree)
    signing._OPENSSL_PROVEN.clear()
    monkeypatch.setattr(dkim.time, "time", lambda: 1_790_000_000.0)  # one t= for both
    for n in range(3):
        data = (
            f"From: a@example.se\r\nTo: m{n}@example.se\r\nSubject: Nr {n}\r\n\r\nHej {n}\r\n"
        ).encode()
        signed = signing.sign(site, data)
        pure = dkim.sign(
            data,
            SELECTOR.encode(),
            b"example.se",
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(signing.SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        assert signed == pure + data
    assert signing._OPENSSL_PROVEN == {pem: True}
