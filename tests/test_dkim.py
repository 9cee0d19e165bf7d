"""DKIM: a message signed by `send` verifies, as received by a real SMTP server, with dkimpy.

tests/fixtures/dkim/test-key.pem is a throwaway key made for these tests only; its public half
(test-key.pub.b64, DER in base64) is what the stub DNS answers for the selector.
"""

from __future__ import annotations

import re
from pathlib import Path

import dkim
import pytest

from nyhetsbrev.delivery import signing

from .conftest import FIXTURES
from .test_send import ISSUE, recipients, send_list

KEY = FIXTURES / "dkim" / "test-key.pem"
PUBLIC = (FIXTURES / "dkim" / "test-key.pub.b64").read_text("ascii").strip()
SELECTOR = "nyhetsbrev2026"


def dns_stub(name: bytes, timeout: int = 5) -> bytes | None:
    """Answer the selector's TXT record as the county's DNS would; nothing else exists."""
    if name == f"{SELECTOR}._domainkey.example.se.".encode():
        return f"v=DKIM1; k=rsa; p={PUBLIC}".encode()
    return None


def add_dkim(tree: Path) -> None:
    toml = tree / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8") + f'\n[dkim]\ndomain = "example.se"\nselector = "{SELECTOR}"\n',
        "utf-8",
    )


@pytest.fixture
def signed(site: Path, monkeypatch) -> Path:
    add_dkim(site)
    monkeypatch.setenv(signing.KEY_ENV, str(KEY))
    return site


def tags(raw: bytes) -> dict[str, str]:
    header = raw.split(b"\r\n\r\n", 1)[0].decode()
    found = re.search(r"^DKIM-Signature: (.*?)\r\n(?=\S)", header, flags=re.M | re.S)
    assert found, header
    value = re.sub(r"\s+", "", found.group(1))
    return dict(part.split("=", 1) for part in value.split(";") if part)


def test_a_list_message_verifies_and_signs_both_list_unsubscribe_headers(signed, server, run):
    result = send_list(run, signed, recipients(signed, 3))
    assert result.exit_code == 0, result.output
    assert len(server.handler.messages) == 3
    for _, raw in server.handler.messages:
        assert raw.startswith(b"DKIM-Signature: ")
        assert dkim.verify(raw, dnsfunc=dns_stub)
        signed_headers = tags(raw)["h"].lower().split(":")
        assert "list-unsubscribe" in signed_headers
        assert "list-unsubscribe-post" in signed_headers
        assert {"from", "subject", "date", "message-id", "to"} <= set(signed_headers)
        assert tags(raw)["d"] == "example.se" and tags(raw)["s"] == SELECTOR
        # a changed one-click header no longer verifies: the signature covers it
        tampered = raw.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Nej")
        assert not dkim.verify(tampered, dnsfunc=dns_stub)


def test_a_test_send_is_signed_too(signed, server, run):
    result = run("send", ISSUE, "--root", signed, "--to", "mig@example.se", "--skip-web-check")
    assert result.exit_code == 0, result.output
    assert dkim.verify(server.handler.messages[0][1], dnsfunc=dns_stub)


def test_without_dkim_nothing_is_signed(site, server, run):
    result = run("send", ISSUE, "--root", site, "--to", "mig@example.se", "--skip-web-check")
    assert result.exit_code == 0, result.output
    assert b"DKIM-Signature" not in server.handler.messages[0][1]


def test_a_missing_key_setting_stops_the_send_before_anything_goes_out(
    site, server, run, monkeypatch
):
    add_dkim(site)
    monkeypatch.delenv(signing.KEY_ENV, raising=False)
    result = send_list(run, site, recipients(site, 2))
    assert result.exit_code == 1
    assert f"[dkim] är satt men miljövariabeln {signing.KEY_ENV} är inte det" in result.stderr
    assert server.handler.messages == []


def test_a_key_file_that_is_not_pem_is_a_swedish_error(site, server, run, monkeypatch, tmp_path):
    add_dkim(site)
    bad = tmp_path / "nyckel.txt"
    bad.write_text("inte en nyckel\n", "utf-8")
    monkeypatch.setenv(signing.KEY_ENV, str(bad))
    result = send_list(run, site, recipients(site, 2))
    assert result.exit_code == 1
    assert "nyckel.txt: filen är ingen privat nyckel i PEM-format" in result.stderr
    monkeypatch.setenv(signing.KEY_ENV, str(tmp_path / "saknas.pem"))
    result = send_list(run, site, recipients(site, 2))
    assert result.exit_code == 1
    assert "saknas.pem: DKIM-nyckeln kan inte läsas" in result.stderr
    assert server.handler.messages == []


def test_openssl_signs_the_same_bytes_as_dkimpy(tree, monkeypatch):
    """The RSA step by OpenSSL gives dkimpy's own signature, byte for byte, and is used."""
    import time

    from nyhetsbrev.delivery.send import load_site

    add_dkim(tree)
    monkeypatch.setenv(signing.KEY_ENV, str(KEY))
    # A signature carries its second (t=): the clock stands still, or a second could pass
    # between the two signatures compared.
    monkeypatch.setattr(time, "time", lambda: 1795700000.0)
    site = load_site(tree)
    signing._OPENSSL_PROVEN.clear()
    for n in range(4):
        data = (
            f"From: a@example.se\r\nTo: m{n}@example.se\r\nSubject: Nr {n}\r\n"
            f"Date: Thu, 26 Nov 2026 17:3{n}:00 +0100\r\n\r\nHej {n}\r\n"
        ).encode()
        pure = dkim.sign(
            data,
            SELECTOR.encode(),
            b"example.se",
            KEY.read_bytes(),
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(signing.SIGNED_HEADERS),
            linesep=b"\r\n",
        )
        signed = signing.sign(site, data)
        assert signed == bytes(pure) + data
        assert dkim.verify(signed, dnsfunc=dns_stub)
    assert signing._OPENSSL_PROVEN == {KEY.read_bytes(): True}  # proven, then used


def test_a_fast_step_that_signs_otherwise_is_not_trusted(tree, monkeypatch):
    """If OpenSSL's step ever gave other bytes than dkimpy's, dkimpy's own step signs."""
    from nyhetsbrev.delivery.send import load_site

    add_dkim(tree)
    monkeypatch.setenv(signing.KEY_ENV, str(KEY))
    real = signing._openssl_rsa()
    assert real is not None

    def off_by_one(digest, pk):
        signed = bytearray(real(digest, pk))
        signed[-1] ^= 1
        return bytes(signed)

    monkeypatch.setattr(signing, "_openssl_rsa", lambda: off_by_one)
    signing._OPENSSL_PROVEN.clear()
    data = b"From: a@example.se\r\nTo: m@example.se\r\nSubject: Nr 1\r\n\r\nHej\r\n"
    signed = signing.sign(load_site(tree), data)
    assert signing._OPENSSL_PROVEN == {KEY.read_bytes(): False}
    assert dkim.verify(signed, dnsfunc=dns_stub)  # dkimpy's own step signed it
    signing._OPENSSL_PROVEN.clear()
