"""Edges the type checker pointed at: values that may be absent, or of another type."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from nyhetsbrev.content.markup import wrap
from nyhetsbrev.preview.serve import start

from .conftest import edit

EVENT = "newsletters/2022/2022-03/webbinarium.md"
NEEDS_START = f"{EVENT}:7: ett evenemang (type: event) behöver start, t.ex. start: 2022-04-21T09:00"


@pytest.mark.parametrize("blank", ['" "', "'\t'"])
def test_an_event_with_a_blank_start_is_an_error_not_a_traceback(run, tree, tmp_path, blank):
    edit(tree, EVENT, "start: 2022-03-31T09:00", f"start: {blank}")
    edit(tree, EVENT, "end: 2022-03-31T11:30\n", "")
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == NEEDS_START
    out = tmp_path / "out"
    result = run("build", "--root", tree, "--out", out)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == NEEDS_START
    assert not out.exists()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_the_preview_url_on_ipv6_has_brackets_and_answers(tree):
    server = start(tree, host="::1")
    try:
        port = server.server_address[1]
        assert server.url == f"http://[::1]:{port}/"
        with urllib.request.urlopen(server.url + "nummer/2022/2022-03/data.json") as response:
            assert response.status == 200
    finally:
        server.stop()


def test_the_preview_url_on_ipv4_is_plain_text(tree):
    server = start(tree)
    try:
        assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.stop()


def test_wrap_keeps_list_and_quote_markers_as_hanging_indents():
    text = "Länsstyrelsen samordnar arbetet mot mäns våld mot kvinnor " * 2
    assert wrap("- " + text, 40).split("\n") == [
        "- Länsstyrelsen samordnar arbetet mot",
        "  mäns våld mot kvinnor Länsstyrelsen",
        "  samordnar arbetet mot mäns våld mot",
        "  kvinnor",
    ]
    assert wrap("> 3. " + text, 40).split("\n") == [
        "> 3. Länsstyrelsen samordnar arbetet mot",
        ">    mäns våld mot kvinnor Länsstyrelsen",
        ">    samordnar arbetet mot mäns våld mot",
        ">    kvinnor",
    ]
    assert wrap("vanlig rad\n\n-inget tecken", 40) == "vanlig rad\n\n-inget tecken"
