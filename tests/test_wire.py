"""A recipient's message from the kept pieces is the full path's, byte for byte."""

from __future__ import annotations

import datetime as dt

import pytest

from nyhetsbrev import send
from nyhetsbrev.models import STOCKHOLM
from nyhetsbrev.pipeline import load_content
from nyhetsbrev.wire import Wire

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
