"""A recipient's message from the kept pieces is the full path's, byte for byte."""

from __future__ import annotations

import datetime as dt

import pytest

from nyhetsbrev.build.pipeline import load_content
from nyhetsbrev.content.models import STOCKHOLM
from nyhetsbrev.delivery import send
from nyhetsbrev.delivery.wire import Wire

RECIPIENTS = [
    ("anna@example.se", "", "https://example.se/avsluta?e=anna%40example.se&t=abc"),
    ("asa@kommun.example.se", "Åsa Öberg", "https://example.se/avsluta?t=" + "k" * 120),
    ("b@example.se", 'Bo "Bosse" Ek, Socialtjänsten', "https://example.se/a?x=1&y=<2>"),
    ("c.d@region.example.se", "Ängel Ø" * 12, "https://exempel.se/ä?ö=1"),
    ("e@example.se", "Eva", "https://example.se/=" + "=3D" * 40),
]


@pytest.fixture(scope="module")
def template():
    from .conftest import FIXTURES

    content = load_content(FIXTURES / "basic").content
    return send.prepare(content, send.find_issue(content, "2022-10"))


@pytest.mark.parametrize("prefix", ["", "[TEST] "])
def test_the_kept_pieces_give_the_full_messages_bytes(template, prefix):
    fast = Wire(template, send.PLACEHOLDER, prefix)
    date = dt.datetime(2024, 5, 2, 9, 30, tzinfo=STOCKHOLM)
    for n, (to, name, url) in enumerate(RECIPIENTS):
        msg_id = send.message_id(template, to)
        full = send.wire(send.personal(template, to, name, url, msg_id, prefix, date))
        assert fast.message(to, name, url, msg_id, date) == full, n


def test_a_list_send_builds_each_message_as_the_full_path_would(template):
    to, name, url = RECIPIENTS[1]
    msg_id = send.message_id(template, to)
    built = send._wired(template, to, name, url, msg_id)
    assert send._WIRES and send._WIRES[0][1] is not None  # the fast path was proven and used
    full = send.wire(send.personal(template, to, name, url, msg_id))
    strip = [line for line in built.split(b"\r\n") if not line.startswith(b"Date:")]
    assert strip == [line for line in full.split(b"\r\n") if not line.startswith(b"Date:")]


@pytest.mark.parametrize("name", ["To", "Message-ID", "List-Unsubscribe"])
def test_a_plain_header_is_folded_as_the_policy_folds_it(template, name):
    """Wire writes a plain header as it stands: the policy must give the very same bytes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nyhetsbrev.delivery.wire import PLAIN

    fast = Wire(template, send.PLACEHOLDER)

    @settings(max_examples=60)
    @given(st.one_of(st.from_regex(PLAIN[name], fullmatch=True), st.text(max_size=60)))
    def check(value: str) -> None:
        if len(value.splitlines()) > 1:  # personal() refuses it (the policy's check)
            with pytest.raises(ValueError):
                fast._fold(name, value)
            return
        try:
            slow = fast.policy.fold_binary(name, fast.policy.header_factory(name, value))
        except Exception as e:  # the policy cannot fold it: the fast path must not take it
            with pytest.raises(type(e)):
                fast._fold(name, value)
            return
        assert fast._fold(name, value) == slow, value

    check()


def test_plain_headers_are_taken_as_they_stand(template):
    fast = Wire(template, send.PLACEHOLDER)
    for name, value in [
        ("To", "M 1 <m1@kommun1.example.se>"),
        ("Message-ID", "<2022.2022-10.0123456789abcdef0123@exempel.se>"),
        ("List-Unsubscribe", "<https://exempel.se/a?t=1&e=m%40x.se>, <mailto:a@exempel.se>"),
    ]:
        assert fast._fold(name, value) == f"{name}: {value}\r\n".encode()
        assert fast.policy.fold_binary(name, fast.policy.header_factory(name, value)) == (
            f"{name}: {value}\r\n".encode()
        )


def test_the_date_header_is_folded_once_a_second(template):
    fast = Wire(template, send.PLACEHOLDER)
    value = "Thu, 26 Nov 2026 15:39:00 +0100"
    first = fast._fold("Date", value)
    assert first == fast.policy.fold_binary("Date", fast.policy.header_factory("Date", value))
    assert fast._fold("Date", value) is first
    assert fast._fold("Date", value.replace(":00 ", ":01 ")) == first.replace(b":00 ", b":01 ")


def test_a_plain_to_is_written_as_address_writes_it():
    """to_value skips parsing a plain address: it must give str(Address(...)) or its error."""
    from email.headerregistry import Address

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nyhetsbrev.delivery.wire import _NAME, PLAIN_ADDRESS, to_value

    names = st.one_of(st.from_regex(_NAME, fullmatch=True), st.text(max_size=30), st.just(""))
    addresses = st.one_of(st.from_regex(PLAIN_ADDRESS, fullmatch=True), st.text(max_size=30))

    @settings(max_examples=300)
    @given(addresses, names)
    def check(to: str, name: str) -> None:
        try:
            slow = str(Address(name, addr_spec=to))
        except Exception as e:  # refused by the full path: refused by the fast one
            with pytest.raises(type(e)):
                to_value(to, name)
            return
        assert to_value(to, name) == slow, (to, name)

    check()
    for special in '()<>@,:;.\\"[] \t':  # each character a display name may need quoted for
        for name in (f"A{special}B", f"{special}A", f"A {special}"):
            assert to_value("a@b.se", name) == str(Address(name, addr_spec="a@b.se")), name
    assert to_value("m1@kommun1.example.se", "Åsa Öberg-Lindström") == (
        "Åsa Öberg-Lindström <m1@kommun1.example.se>"
    )
    assert to_value("a@b.se", 'Bo "Bosse" Ek, Socialtjänsten') == (
        '"Bo \\"Bosse\\" Ek, Socialtjänsten" <a@b.se>'
    )


def test_dot_stuffing_is_the_regular_expressions():
    """stuffed() replaces re.sub over the message: the same bytes for any message."""
    import re

    from hypothesis import example, given
    from hypothesis import strategies as st

    @given(st.lists(st.sampled_from([b".", b"\r\n", b"\n", b"\r", b"a", b".."])).map(b"".join))
    @example(b".a\r\n.b\r\n")
    @example(b"a\r\n..\r\nb")
    @example(b"")
    def check(data: bytes) -> None:
        body = re.sub(rb"(?m)^\.", b"..", data)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        assert send.stuffed(data) == body + b".\r\n"

    check()


def test_a_plain_envelope_address_is_quoted_as_smtplib_quotes_it():
    import smtplib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nyhetsbrev.delivery.wire import PLAIN_ADDRESS

    @settings(max_examples=300)
    @given(st.one_of(st.from_regex(PLAIN_ADDRESS, fullmatch=True), st.text(max_size=40)))
    def check(address: str) -> None:
        assert send.quoted(address) == smtplib.quoteaddr(address), address

    check()
    for address in ("studs+abc@example.se", "a.b@c.se", "<a@b.se>", "Namn <a@b.se>", '"a b"@c.se'):
        assert send.quoted(address) == smtplib.quoteaddr(address), address
