"""Delivery against a real SMTP server (aiosmtpd on 127.0.0.1) running in the test process."""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import logging
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from nyhetsbrev.delivery import ledger
from nyhetsbrev.delivery.send import PLACEHOLDER, Pace

from .conftest import REPO, edit
from .smtp import PASSWORD, SECRET, certificate, free_port, point, running

ISSUE = "2022-10"


def recipients(tree: Path, n: int, extra: str = "") -> Path:
    path = tree / "lista.csv"
    rows = "".join(f"mottagare{i:02d}@kommun{i % 3}.example.se,Mottagare {i}\n" for i in range(n))
    path.write_text("email,name\n" + rows + extra, "utf-8")
    return path


def send_list(run, tree: Path, csv: Path, *more: str, web_check: bool = False):
    """Run a list send; the web check is skipped unless asked for (the archive is not online)."""
    skip = () if web_check else ("--skip-web-check",)
    return run("send", ISSUE, "--root", tree, "--list", csv, "--retry-wait", "0.01", *skip, *more)


def refused(result, server, stderr: str, code: int = 1) -> None:
    """The command exits with code, prints exactly stderr, and nothing reaches the server."""
    assert result.exit_code == code
    assert result.stderr == stderr
    assert server.handler.messages == []


def set_status(tree: Path, status: str, issue: str = ISSUE) -> Path:
    """Set the issue's status (as a coordinator does to resume a send) and return its file."""
    path = tree / "newsletters" / issue[:4] / issue / "issue.md"
    text = re.sub(r"(?m)^status: \w+$", f"status: {status}", path.read_text("utf-8"))
    path.write_text(text, "utf-8")
    return path


def expected_token(address: str) -> str:
    return hmac.new(SECRET.encode(), address.lower().encode(), hashlib.sha256).hexdigest()


def raw_unsubscribe(raw: bytes) -> str:
    """Return the https URL of List-Unsubscribe as it stands in the sent bytes (no RFC 2047)."""
    found = re.findall(
        rb"^List-Unsubscribe: <(https://[^>\s]+)>, <mailto:avsluta@example\.se>\r$",
        raw,
        flags=re.MULTILINE,
    )
    assert len(found) == 1, raw.split(b"\r\n\r\n")[0]
    return found[0].decode()


def parts(msg) -> tuple[str, str]:
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    return plain, html


@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelined"])
def pipelining(request, server):
    """Run the test against a server without PIPELINING and against one that offers it.

    With it, MAIL, RCPT and DATA go in one write: every guarantee must hold the same.
    """
    server.handler.pipelining = request.param
    yield request.param
    handler = server.handler
    if request.param:  # every message that arrived came pipelined
        assert handler.pipelined >= len(handler.messages) > 0
    else:
        assert handler.pipelined == 0


def ledger_rows(tree: Path) -> dict[str, tuple[str, str]]:
    db = sqlite3.connect(tree / ".nyhetsbrev" / "sends.sqlite")
    try:
        return {
            a: (s, r)
            for a, s, r in db.execute(
                "SELECT address, state, reply FROM sends WHERE issue = ?", (ISSUE,)
            )
        }
    finally:
        db.close()


# --- test sends ---------------------------------------------------------------------------


def test_test_send_arrives_with_the_right_headers_and_both_parts(site, server, run):
    result = run(
        "send",
        ISSUE,
        "--root",
        site,
        "--skip-web-check",
        "--to",
        "Samordnare@Example.se",
        "--to",
        "kollega@example.se",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Testbrev till samordnare@example.se: skickat (250 2.0.0 Ok: queued as Q1)\n"
        "Testbrev till kollega@example.se: skickat (250 2.0.0 Ok: queued as Q2)\n"
    )
    got = server.handler.parsed()
    assert [r for r, _ in got] == ["samordnare@example.se", "kollega@example.se"]
    recipient, msg = got[0]
    assert msg["Subject"] == "[TEST] Nyhetsbrev oktober 2022"
    assert msg["To"] == "samordnare@example.se"
    assert msg["From"] == "Länsstyrelsen i Testlän <nyhetsbrev@example.se>"
    assert msg["Reply-To"] == "svar@example.se"
    assert msg["List-Id"] == "Testbrevet <nyhetsbrev.nyhetsbrev.example.se>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Date"] and msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"].startswith("<2022.2022-10.test.")
    assert got[1][1]["Message-ID"] != msg["Message-ID"]  # repeated tests are not deduplicated
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    plain, html = parts(msg)
    url = (
        f"https://nyhetsbrev.example.se/avsluta?token={expected_token(recipient)}"
        "&email=samordnare%40example.se"
    )
    assert raw_unsubscribe(server.handler.messages[0][1]) == url
    assert url in plain and url.replace("&", "&amp;") in html
    assert "Välj att sluta" in plain and "Välj att sluta" in html
    assert PLACEHOLDER not in msg.as_string()


def test_test_send_is_not_a_list_send(site, server, run):
    assert (
        run("send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example.se").exit_code
        == 0
    )
    status = run("send", ISSUE, "--root", site, "--status")
    lines = status.stdout.splitlines()
    assert lines[0] == (
        "2022-10: 0 skickade, 0 misslyckade, 0 väntar (0 mottagare i .nyhetsbrev/sends.sqlite)"
    )
    assert lines[1].startswith("testbrev: 1, senast till mig@example.se 20")
    assert ledger.delivered(site / ".nyhetsbrev" / "sends.sqlite") == {}


def test_a_draft_can_be_test_sent(site, server, run):
    issue = site / "newsletters" / "2022" / "2022-10" / "issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: ready", "status: draft"), "utf-8")
    assert (
        run("send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example.se").exit_code
        == 0
    )
    assert len(server.handler.messages) == 1


def test_test_send_without_secret_uses_the_general_link(site, server, run, monkeypatch):
    monkeypatch.delenv("NYHETSBREV_UNSUBSCRIBE_SECRET")
    result = run("send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example.se")
    assert result.exit_code == 0
    assert result.stderr == (
        "varning: NYHETSBREV_UNSUBSCRIBE_SECRET är inte satt; testbrevet får den allmänna "
        "avregistreringslänken i stället för en personlig\n"
    )
    raw = server.handler.messages[0][1]
    assert raw_unsubscribe(raw) == "https://nyhetsbrev.example.se/avsluta"


def test_test_send_dry_run_connects_to_nothing(site, server, run):
    result = run(
        "send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example.se", "--dry-run"
    )
    assert result.exit_code == 0
    assert result.stdout == (
        'Provkörning, inget skickas: testbrev "[TEST] Nyhetsbrev oktober '
        f'2022" till mig@example.se via 127.0.0.1:{server.port}\n'
    )
    assert server.handler.connections == 0


def test_test_send_to_an_invalid_address_is_refused(site, server, run):
    result = run("send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example")
    refused(
        result,
        server,
        (
            '--to mig@example: "mig@example" är ingen giltig e-postadress: '
            "domänen saknar punkt (t.ex. .se)\n"
        ),
    )


def test_test_send_to_a_suppressed_address_sends_nothing(site, server, run):
    result = run(
        "send", ISSUE, "--root", site, "--skip-web-check", "--to", "AVREGISTRERAD@example.se"
    )
    refused(
        result,
        server,
        "varning: avregistrerad@example.se står i avregistreringslistan och får inget\n",
        0,
    )


# --- list sends ---------------------------------------------------------------------------


def test_list_send_delivers_50_distinct_messages_with_personal_links(site, server, run, pipelining):
    csv = recipients(site, 50)
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "Klart: 2022-10 till " + csv.as_posix() + ": 50 skickade nu, 0 hade redan fått numret, "
        "0 misslyckades, 0 avregistrerade, 0 rader hoppades över ("
    )
    got = server.handler.parsed()
    assert len(got) == 50
    assert sorted(server.handler.by_recipient()) == sorted(
        f"mottagare{i:02d}@kommun{i % 3}.example.se" for i in range(50)
    )
    assert len({m["Message-ID"] for _, m in got}) == 50
    for (recipient, msg), (_, raw) in zip(got, server.handler.messages, strict=True):
        assert msg["Subject"] == "Nyhetsbrev oktober 2022"
        assert msg["To"].addresses[0].addr_spec == recipient
        assert msg["To"].addresses[0].display_name.startswith("Mottagare ")
        url = raw_unsubscribe(raw)
        query = parse_qs(urlsplit(url).query)
        assert url.startswith("https://nyhetsbrev.example.se/avsluta?token=")
        assert query["email"] == [recipient]
        assert hmac.compare_digest(query["token"][0], expected_token(recipient))
        plain, html = parts(msg)
        assert url in plain and url.replace("&", "&amp;") in html
        assert PLACEHOLDER not in plain + html
    assert sorted(ledger_rows(site).values()) == sorted(
        ("sent", f"250 2.0.0 Ok: queued as Q{i}") for i in range(1, 51)
    )
    assert ledger.delivered(site / ".nyhetsbrev" / "sends.sqlite") == {ISSUE: 50}


def test_second_run_sends_nothing_again(site, server, run):
    csv = recipients(site, 5)
    assert send_list(run, site, csv).exit_code == 0
    set_status(site, "ready")
    again = send_list(run, site, csv)
    assert again.exit_code == 0
    assert "0 skickade nu, 5 hade redan fått numret" in again.stdout
    assert len(server.handler.messages) == 5


def test_one_connection_is_reused_and_reopened_when_dropped(site, server, run, pipelining):
    server.handler.drop_every = 20
    csv = recipients(site, 50)
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output
    assert set(server.handler.by_recipient().values()) == {1}
    assert len(server.handler.messages) == 50
    assert server.handler.connections == 3  # 20 + 20 + 10


def test_server_gone_after_20_then_second_run_gives_everyone_exactly_one(
    site, server, run, pipelining
):
    handler = server.handler
    handler.drop_every, handler.refuse = 20, False
    csv = recipients(site, 50)

    original = handler.handle_MAIL

    async def drop_then_refuse(srv, session, envelope, address, options):
        if len(handler.messages) >= 20:
            handler.refuse = True
        return await original(srv, session, envelope, address, options)

    handler.handle_MAIL = drop_then_refuse
    first = send_list(run, site, csv)
    assert first.exit_code == 1
    assert first.stderr.endswith(
        f"127.0.0.1:{server.port}: kunde inte ansluta till SMTP-servern (Connection unexpectedly "
        "closed). Kör samma kommando igen när servern svarar; redan skickade mottagare hoppas "
        "över\n"
    )
    assert len(handler.messages) == 20
    states = collections.Counter(s for s, _ in ledger_rows(site).values())
    assert states == {"sent": 20, "pending": 30}

    handler.refuse, handler.drop_every = False, None
    handler.handle_MAIL = original
    second = send_list(run, site, csv)
    assert second.exit_code == 0, second.output
    assert "30 skickade nu, 20 hade redan fått numret" in second.stdout
    counts = handler.by_recipient()
    assert len(counts) == 50 and set(counts.values()) == {1}


def test_550_leaves_one_failed_and_the_rest_sent(site, server, run, pipelining):
    csv = recipients(site, 10)
    server.handler.reject["mottagare03@kommun0.example.se"] = "550 5.1.1 Mailbox unavailable"
    result = send_list(run, site, csv)
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "mottagare03@kommun0.example.se: 550 5.1.1 Mailbox unavailable\n"
        "Numret kom inte fram till en mottagare; se ovan och `send 2022-10 --status`. Sätt "
        "tillbaka status: ready och kör samma kommando igen för att försöka på nytt; de som "
        "fått numret hoppas över\n"
    )
    assert len(server.handler.messages) == 9
    rows = ledger_rows(site)
    assert rows["mottagare03@kommun0.example.se"] == ("failed", "550 5.1.1 Mailbox unavailable")
    assert sum(s == "sent" for s, _ in rows.values()) == 9
    status = run("send", ISSUE, "--root", site, "--status")
    assert status.stdout == (
        "2022-10: 9 skickade, 1 misslyckad, 0 väntar (10 mottagare i .nyhetsbrev/sends.sqlite)\n"
        "misslyckade:\n"
        "  mottagare03@kommun0.example.se: 550 5.1.1 Mailbox unavailable\n"
        "efter utskicket: 9 levererade, 0 studsade, 0 klagomål, 0 avregistrerade\n"
    )


def test_a_pipelined_send_puts_the_full_paths_bytes_on_the_wire(site, server, run):
    """Each message a list send hands a PIPELINING server is, byte for byte, what the full
    path (personal() and wire(), no shortcut) builds for that recipient at that second."""
    import email
    from email.utils import parsedate_to_datetime

    from nyhetsbrev.build.pipeline import load_content
    from nyhetsbrev.delivery import send

    server.handler.pipelining = True
    names = {"asa@kommun0.example.se": "Åsa Öberg, Länsstyrelsen", "bo@kommun1.example.se": ""}
    extra = 'asa@kommun0.example.se,"Åsa Öberg, Länsstyrelsen"\nbo@kommun1.example.se,\n'
    csv = recipients(site, 4, extra)
    names |= {f"mottagare{i:02d}@kommun{i % 3}.example.se": f"Mottagare {i}" for i in range(4)}
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output
    content = load_content(site).content
    template = send.prepare(content, send.find_issue(content, ISSUE))
    assert sorted(r for r, _ in server.handler.messages) == sorted(names)
    assert server.handler.pipelined == len(names)
    for to, raw in server.handler.messages:
        msg = email.message_from_bytes(raw)
        date = parsedate_to_datetime(msg["Date"])
        url = raw_unsubscribe(raw)
        full = send.personal(template, to, names[to], url, msg["Message-ID"], date=date)
        assert raw == send.wire(full), to


def test_a_message_with_lines_starting_with_a_dot_arrives_whole_pipelined(server):
    from nyhetsbrev.content.models import Smtp
    from nyhetsbrev.delivery import send

    data = b".Subject: x\r\n\r\n.\r\n..\r\n.a\r\nb\r\n.\r\nslut utan radslut"
    for pipelining in (False, True):
        server.handler.pipelining = pipelining
        conn = send.Connection(Smtp("127.0.0.1", server.port, "none"), None, send.Policy())
        try:
            outcome = send.deliver(conn, "a@example.se", "b@example.se", data)
        finally:
            conn.close()
        assert outcome.state == "sent"
    assert server.handler.pipelined == 1
    assert [raw for _, raw in server.handler.messages] == [data + b"\r\n"] * 2


def test_a_server_that_starts_data_for_a_refused_recipient_gets_no_message():
    """RFC 2920 3.1: a pipelined DATA that a server starts although it refused the only
    recipient gets an empty message, and the refusal is the recipient's outcome."""
    import socketserver
    import threading

    from nyhetsbrev.content.models import Smtp
    from nyhetsbrev.delivery import send

    got: list[bytes] = []

    class Lax(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 lax\r\n")
            while line := self.rfile.readline():
                command = line.strip().lower()
                got.append(command)
                if command.startswith(b"ehlo"):
                    reply = b"250-lax\r\n250 PIPELINING\r\n"
                elif command.startswith(b"rcpt") and b"nej@" in command:
                    reply = b"550 5.1.1 Finns inte\r\n"
                elif command == b"data":
                    self.wfile.write(b"354 Skicka\r\n")
                    body = []
                    while (part := self.rfile.readline()) not in (b".\r\n", b""):
                        body.append(part)
                    got.append(b"".join(body))
                    reply = b"250 2.0.0 Tog emot\r\n"
                elif command == b"quit":
                    self.wfile.write(b"221 Hej\r\n")
                    return
                else:
                    reply = b"250 OK\r\n"
                self.wfile.write(reply)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Lax) as lax:
        threading.Thread(target=lax.serve_forever, daemon=True).start()
        smtp = Smtp("127.0.0.1", lax.server_address[1], "none")
        conn = send.Connection(smtp, None, send.Policy(timeout=5))
        try:
            refused = send.deliver(conn, "a@example.se", "nej@example.se", b"Subject: 1\r\n")
            taken = send.deliver(conn, "a@example.se", "ja@example.se", b"Subject: 2\r\n")
        finally:
            conn.close()
            lax.shutdown()
    assert (refused.state, refused.reply) == ("failed", "550 5.1.1 Finns inte")
    assert (taken.state, taken.reply) == ("sent", "250 2.0.0 Tog emot")
    assert got[got.index(b"rcpt to:<nej@example.se>") + 1 :] == [
        b"data",
        b"",  # the empty message, not Subject: 1
        b"rset",
        b"mail from:<a@example.se>",
        b"rcpt to:<ja@example.se>",
        b"data",
        b"Subject: 2\r\n",
        b"quit",
    ]


def test_a_421_to_a_pipelined_mail_is_the_answer_not_the_dropped_line():
    """A server that says 421 to MAIL closes the channel: its 421 is the reply kept, as
    without pipelining, and the message is tried again on a new connection."""
    import socketserver
    import threading

    from nyhetsbrev.content.models import Smtp
    from nyhetsbrev.delivery import send

    class Closing(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 closing soon\r\n")
            while line := self.rfile.readline():
                if line.lower().startswith(b"ehlo"):
                    self.wfile.write(b"250-closing\r\n250 PIPELINING\r\n")
                elif line.lower().startswith(b"mail"):
                    self.wfile.write("421 4.3.2 Stänger nu\r\n".encode())
                    return  # the rest of the group is never answered

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Closing) as closing:
        threading.Thread(target=closing.serve_forever, daemon=True).start()
        smtp = Smtp("127.0.0.1", closing.server_address[1], "none")
        conn = send.Connection(smtp, None, send.Policy(retries=1, wait=0.01, timeout=5))
        try:
            outcome = send.deliver(conn, "a@example.se", "b@example.se", b"Subject: 1\r\n")
        finally:
            conn.close()
            closing.shutdown()
    assert (outcome.state, outcome.reply, outcome.transient) == (
        "failed",
        "421 4.3.2 Stänger nu",
        True,
    )
    assert conn.opened == 2  # tried again on a new connection


def test_451_is_retried(site, server, run, pipelining):
    csv = recipients(site, 3)
    server.handler.transient["mottagare01@kommun1.example.se"] = 2
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output
    assert server.handler.transient["mottagare01@kommun1.example.se"] == 0
    assert set(server.handler.by_recipient().values()) == {1}
    assert len(server.handler.messages) == 3


def test_451_that_never_ends_is_failed_and_retried_by_the_next_run(site, server, run, pipelining):
    csv = recipients(site, 2)
    server.handler.transient["mottagare00@kommun0.example.se"] = 4  # one try + 3 retries
    first = send_list(run, site, csv)
    assert first.exit_code == 1
    assert ledger_rows(site)["mottagare00@kommun0.example.se"] == (
        "failed",
        "451 4.7.1 Försök igen senare",
    )
    set_status(site, "ready")
    second = send_list(run, site, csv)
    assert second.exit_code == 0
    assert set(server.handler.by_recipient().values()) == {1}


def test_suppressed_and_invalid_addresses_get_nothing(site, server, run):
    csv = recipients(
        site,
        3,
        extra="Avregistrerad@Example.se,Borta\nkalle@,Kalle\n"
        "MOTTAGARE00@kommun0.example.se,Dubblett\n,\n"
        "a b@example.se,\n",
    )
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output
    shown = csv.as_posix()
    assert result.stderr.splitlines()[:3] == [
        f'{shown}:6: "kalle@" är ingen giltig e-postadress: det saknas något efter @; '
        "raden hoppas över",
        f'{shown}:7: "mottagare00@kommun0.example.se" finns redan på rad 2; raden hoppas över',
        f'{shown}:9: "a b@example.se" är ingen giltig e-postadress: mellanslag i adressen; '
        "raden hoppas över",
    ]
    assert sorted(server.handler.by_recipient()) == [
        "mottagare00@kommun0.example.se",
        "mottagare01@kommun1.example.se",
        "mottagare02@kommun2.example.se",
    ]
    assert (
        "3 skickade nu, 0 hade redan fått numret, 0 misslyckades, 1 avregistrerad, "
        "3 rader hoppades över" in result.stdout
    )
    assert "avregistrerad@example.se" not in ledger_rows(site)


def test_semicolon_csv_from_a_spreadsheet_with_bom(site, server, run):
    csv = site / "excel.csv"
    csv.write_bytes("\ufeffE-post;Email;Name\nx;Asa.Oberg@Malmö.Example.se;Åsa Öberg\n".encode())
    assert send_list(run, site, csv).exit_code == 0
    ((recipient, msg),) = server.handler.parsed()
    assert recipient == "asa.oberg@xn--malm-8qa.example.se"  # the domain in punycode
    assert msg["To"].addresses[0].display_name == "Åsa Öberg"


def test_a_draft_issue_is_refused_for_a_list_send(site, server, run):
    issue = site / "newsletters" / "2022" / "2022-10" / "issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: ready", "status: draft"), "utf-8")
    result = send_list(run, site, recipients(site, 3))
    refused(
        result,
        server,
        (
            'newsletters/2022/2022-10/issue.md:3: numret har status "draft"; bara ett nummer med '
            'status "ready" får skickas till en lista. Skicka ett testbrev med --to och sätt '
            "status: ready när numret är klart\n"
        ),
    )
    assert not (site / ".nyhetsbrev" / "sends.sqlite").exists()


def test_a_sent_issue_is_refused_with_the_way_to_resume(site, server, run):
    result = run("send", "2022-03", "--root", site, "--list", recipients(site, 1))
    assert result.exit_code == 1
    assert result.stderr.endswith(
        'newsletters/2022/2022-03/issue.md:5: numret har status "sent"; bara ett nummer med '
        'status "ready" får skickas till en lista. För att fortsätta ett avbrutet utskick: '
        "sätt tillbaka status: ready; de som fått numret hoppas över\n"
    )
    assert server.handler.messages == []


def test_dry_run_connects_to_nothing_and_writes_nothing(site, server, run):
    csv = recipients(site, 4, extra="avregistrerad@example.se,\nfel,\n")
    result = send_list(run, site, csv, "--dry-run", "--rate", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        f'Provkörning, inget skickas: "Nyhetsbrev oktober 2022" (2022-10) till {csv.as_posix()}',
        "  5 giltiga adresser, 1 rad hoppas över",
        "  1 avregistrerad får inget",
        "  0 har redan fått numret enligt .nyhetsbrev/sends.sqlite",
        f"  4 skulle skickas nu via 127.0.0.1:{server.port} (none), 2 per minut: cirka 2 min",
    ]
    assert lines[5].startswith("  från Länsstyrelsen i Testlän <nyhetsbrev@example.se>, ")
    assert lines[5].endswith(" kB per brev")
    assert server.handler.connections == 0 and server.handler.messages == []
    assert not (site / ".nyhetsbrev").exists()


def test_dry_run_after_a_partial_send_counts_the_sent(site, server, run):
    csv = recipients(site, 3)
    server.handler.reject["mottagare02@kommun2.example.se"] = "550 nej"
    send_list(run, site, csv)
    set_status(site, "ready")
    result = send_list(run, site, csv, "--dry-run")
    assert "  2 har redan fått numret enligt .nyhetsbrev/sends.sqlite" in result.stdout
    assert f"  1 skulle skickas nu via 127.0.0.1:{server.port} (none)" in result.stdout


# --- secrets ------------------------------------------------------------------------------


@pytest.fixture
def auth_server():
    with running(auth=True) as s:
        yield s


def secret_forms(password: str) -> list[str]:
    """Return the password as written and as it travels in AUTH PLAIN and AUTH LOGIN."""
    plain = f"\0utskick\0{password}".encode()
    return [
        password,
        base64.b64encode(plain).decode(),
        base64.b64encode(password.encode()).decode(),
    ]


@pytest.mark.parametrize("password", [PASSWORD, "ascii-only-Secret-4711"])
def test_password_never_appears_in_output_or_logs(
    tree, auth_server, run, monkeypatch, caplog, password
):
    auth_server.password = password
    caplog.set_level(logging.DEBUG)
    point(tree, auth_server.port, user="utskick")
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", password)
    results = [
        run("send", ISSUE, "--root", tree, "--skip-web-check", "--to", "mig@example.se"),
        send_list(run, tree, recipients(tree, 3)),
        set_status(tree, "ready") and send_list(run, tree, recipients(tree, 3), "--dry-run"),
        run("send", ISSUE, "--root", tree, "--status"),
    ]
    assert [r.exit_code for r in results] == [0, 0, 0, 0]
    assert auth_server.logins and auth_server.logins[0] == (b"utskick", password.encode())
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", password + "-fel")
    refused = run("send", ISSUE, "--root", tree, "--skip-web-check", "--to", "mig@example.se")
    assert refused.exit_code == 1
    assert refused.stderr == (
        f'127.0.0.1:{auth_server.port}: inloggningen som "utskick" nekades (535 5.7.8 '
        "Authentication credentials invalid); kontrollera [smtp] user och "
        "NYHETSBREV_SMTP_PASSWORD\n"
    )
    assert "ansluter till" in caplog.text  # the log was captured, and holds no secret
    written = b"".join(p.read_bytes() for p in (tree / ".nyhetsbrev").iterdir() if p.is_file())
    for form in secret_forms(password):
        for r in [*results, refused]:
            assert form not in r.output
        assert form not in caplog.text
        assert form.encode() not in written
        assert form.encode() not in b"".join(raw for _, raw in auth_server.handler.messages)


def test_user_without_password_is_refused(tree, auth_server, run, monkeypatch):
    point(tree, auth_server.port, user="utskick")
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.delenv("NYHETSBREV_SMTP_PASSWORD", raising=False)
    result = run("send", ISSUE, "--root", tree, "--skip-web-check", "--to", "mig@example.se")
    assert result.exit_code == 1
    assert result.stderr == (
        '[smtp] user är "utskick" men miljövariabeln '
        "NYHETSBREV_SMTP_PASSWORD är inte satt; sätt den i skalet "
        "(aldrig i newsletter.toml)\n"
    )
    assert auth_server.logins == []


def test_list_send_without_secret_is_refused(site, server, run, monkeypatch):
    monkeypatch.delenv("NYHETSBREV_UNSUBSCRIBE_SECRET")
    result = send_list(run, site, recipients(site, 2))
    refused(
        result,
        server,
        (
            "miljövariabeln NYHETSBREV_UNSUBSCRIBE_SECRET är inte satt: varje mottagare "
            "behöver en personlig avregistreringslänk. Sätt samma hemlighet som "
            "avregistreringssidan använder\n"
        ),
    )


# --- a crash mid-list ---------------------------------------------------------------------


def test_sigkill_mid_list_then_resume_sends_at_most_the_in_flight_one_twice(
    site, server, run, pipelining
):
    """SIGKILL while the server holds message 10 before its reply, then resume.

    SMTP has no exactly-once: once the client has sent DATA's final ".", the server may have
    accepted the message, and a process killed before it commits that reply to the ledger
    cannot know. The resumed run sends that one message again (with the same Message-ID, so
    many clients show it once); every other recipient was either committed as sent (skipped)
    or never handed over (sent once now).
    """
    csv = recipients(site, 50)
    handler = server.handler
    handler.delay = 0.3
    env = dict(os.environ, NYHETSBREV_UNSUBSCRIBE_SECRET=SECRET, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "build.py"),
            "send",
            ISSUE,
            "--root",
            str(site),
            "--list",
            str(csv),
            "--retry-wait",
            "0.01",
            "--skip-web-check",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(handler.messages) < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(handler.messages) >= 10, "the sender never got going"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    handler.delay = 0.0
    killed_at = len(handler.messages)
    assert killed_at < 50

    resumed = send_list(run, site, csv)
    assert resumed.exit_code == 0, resumed.output
    unsure = [a for a, (state, _) in ledger_rows(site).items() if state == "uncertain"]
    assert len(unsure) <= 1
    counts = handler.by_recipient()
    everyone = [f"mottagare{i:02d}@kommun{i % 3}.example.se" for i in range(50)]
    assert all(counts[a] == 1 for a in everyone if a not in unsure), counts
    for address in unsure:  # possibly delivered: not sent again without being asked
        assert counts[address] <= 1
        assert (
            f"varning: {address} kan redan ha fått brevet (avbröts medan brevet skickades); "
            "hoppas över utan --resend-uncertain"
        ) in resumed.stderr
    assert "Numret har kvar status: ready" in resumed.stdout if unsure else True

    again = send_list(run, site, csv, "--resend-uncertain")
    assert again.exit_code == 0, again.output
    counts = handler.by_recipient()
    assert len(counts) == 50
    twice = [r for r, n in counts.items() if n > 1]
    assert max(counts.values()) <= 2 and len(twice) <= 1
    for address in twice:
        ids = {m["Message-ID"] for r, m in handler.parsed() if r == address}
        assert len(ids) == 1  # the retry reuses the Message-ID
    assert ledger.delivered(site / ".nyhetsbrev" / "sends.sqlite") == {ISSUE: 50}


# --- errors a coordinator can make ---------------------------------------------------------


def test_to_and_list_together_is_a_usage_error(site, run):
    result = run(
        "send", ISSUE, "--root", site, "--skip-web-check", "--to", "a@example.se", "--list", "x.csv"
    )
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Fel: ange en av --to ADRESS (testbrev), --list FIL.csv eller --subscribers\n"
    )


def test_neither_to_nor_list_is_a_usage_error(site, run):
    result = run("send", ISSUE, "--root", site)
    assert result.exit_code == 2
    assert "ange en av --to ADRESS (testbrev), --list FIL.csv eller --subscribers" in result.stderr


def test_unknown_issue(site, run):
    result = run("send", "2022-11", "--root", site, "--skip-web-check", "--to", "a@example.se")
    assert result.exit_code == 1
    assert result.stderr == (
        'numret "2022-11" finns inte under newsletters/ (menade du "2022-10"?)\n'
    )


def test_missing_list_file(site, server, run):
    result = run("send", ISSUE, "--root", site, "--list", site / "saknas.csv")
    assert result.exit_code == 1
    assert result.stderr == f"{(site / 'saknas.csv').as_posix()}:1: filen finns inte\n"


def test_list_without_email_column(site, server, run):
    csv = site / "lista.csv"
    csv.write_text("e-mail,namn\na@example.se,A\n", "utf-8")
    result = send_list(run, site, csv)
    refused(
        result,
        server,
        (
            f'{csv.as_posix()}:1: kolumnen "email" saknas (hittade "e-mail", '
            '"namn") (menade du "email"?); första raden ska vara rubriker, '
            't.ex. "email,name"\n'
        ),
    )


def test_list_that_is_not_utf8(site, server, run):
    csv = site / "lista.csv"
    csv.write_bytes("email,name\nasa@example.se,Åsa\n".encode("cp1252"))
    result = send_list(run, site, csv)
    assert result.exit_code == 1
    assert result.stderr == (
        f'{csv.as_posix()}:2: filen är inte UTF-8; spara den som "CSV UTF-8 (kommaavgränsad)"\n'
    )


def test_missing_suppression_file_stops_the_send(site, server, run):
    (site / "suppression.csv").unlink()
    result = send_list(run, site, recipients(site, 2))
    refused(result, server, "suppression.csv:1: filen finns inte\n")


def test_no_server_listening(site, run):
    port = free_port()
    toml = site / "newsletter.toml"
    text = toml.read_text("utf-8")
    toml.write_text(text.replace(text.split("port = ")[1].split("\n")[0], str(port)), "utf-8")
    result = send_list(run, site, recipients(site, 2))
    assert result.exit_code == 1
    last = result.stderr.splitlines()[-1] + "\n"
    assert last.startswith(f"127.0.0.1:{port}: kunde inte ansluta till SMTP-servern (")
    assert last.endswith(
        "Kör samma kommando igen när servern svarar; redan skickade mottagare hoppas över\n"
    )
    assert collections.Counter(s for s, _ in ledger_rows(site).values()) == {"pending": 2}


def test_ledger_inside_public_is_refused(site, server, run):
    toml = site / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8").replace(
            "[sending]\n", '[sending]\nledger = "public/sends.sqlite"\n'
        ),
        "utf-8",
    )
    result = send_list(run, site, recipients(site, 2))
    assert result.exit_code == 1
    assert result.stderr == (
        'newsletter.toml:1: [sending] ledger "public/sends.sqlite" ligger '
        "i public/, som ersätts vid varje build; välj en fil utanför, "
        't.ex. ".nyhetsbrev/sends.sqlite"\n'
    )


def test_a_second_run_at_the_same_time_is_refused(site, server, run):
    path = site / ".nyhetsbrev" / "sends.sqlite"
    with ledger.locked(path) as free:
        assert free
        result = send_list(run, site, recipients(site, 2))
    refused(
        result,
        server,
        (f"ett annat utskick använder {path} just nu; vänta tills det är klart\n"),
    )


def test_a_ledger_that_is_not_a_database(site, server, run):
    path = site / ".nyhetsbrev" / "sends.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"inte en databas" * 100)
    result = send_list(run, site, recipients(site, 2))
    refused(
        result,
        server,
        (
            ".nyhetsbrev/sends.sqlite: utskicksregistret kan inte läsas eller skrivas (filen är "
            "ingen databas). Åtgärda filen eller disken och kör samma kommando igen; den som "
            "skickades sist kan då få brevet två gånger\n"
        ),
    )
    assert run("send", ISSUE, "--root", site, "--status").stderr == result.stderr


def test_status_without_ledger(site, run):
    result = run("send", ISSUE, "--root", site, "--status")
    assert result.exit_code == 0
    assert result.stdout == (
        "2022-10: inga utskick ännu (utskicksregistret .nyhetsbrev/sends.sqlite finns inte)\n"
    )


def test_status_of_an_issue_never_sent_names_the_close_one(site, server, run):
    send_list(run, site, recipients(site, 1))
    result = run("send", "2022-1O", "--root", site, "--status")
    assert result.stdout == (
        '2022-1O: inga utskick i .nyhetsbrev/sends.sqlite (menade du "2022-10"?)\n'
    )


# --- parts --------------------------------------------------------------------------------


def test_pace_keeps_to_the_rate():
    pace = Pace(rate=600)  # one message every 0.1 s
    started = time.monotonic()
    for _ in range(3):
        pace.wait()
    assert time.monotonic() - started >= 0.2


def test_delivered_counts_per_issue(tmp_path):
    path = tmp_path / "sends.sqlite"
    assert ledger.delivered(path) == {}
    with ledger.Ledger(path) as book:
        book.add("2022-03", ["a@x.se", "b@x.se", "c@x.se"])
        book.add("2022-10", ["a@x.se"])
        for address in ("a@x.se", "b@x.se"):
            book.finish("2022-03", address, ledger.SENT, "250 ok")
        book.finish("2022-03", "c@x.se", ledger.FAILED, "550 nej")
        book.finish("2022-10", "a@x.se", ledger.SENT, "250 ok")
        book.finish("2022-10", "a@x.se", ledger.FAILED, "550 sent stays sent")
    assert ledger.delivered(path) == {"2022-03": 2, "2022-10": 1}


def test_ledger_is_in_wal_mode(tmp_path):
    path = tmp_path / "sends.sqlite"
    ledger.Ledger(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


# --- bad rows and bad recipients never stop a send ------------------------------------------


def test_a_line_break_in_a_name_skips_that_row_and_no_other(site, server, run):
    csv = site / "lista.csv"
    csv.write_text(
        'email,name\na@example.se,Anna\nb@example.se,"Bo\nBerg"\nc@example.se,"Cilla\u2028C"\n'
        "d@example.se,Doris\n",
        "utf-8",
    )
    shown = csv.as_posix()
    skipped = [
        f'{shown}:3: namnet "Bo\\nBerg" innehåller en radbrytning eller ett annat styrtecken; '
        "raden hoppas över",
        f'{shown}:5: namnet "Cilla\\u2028C" innehåller en radbrytning eller ett annat '
        "styrtecken; raden hoppas över",
    ]
    dry = send_list(run, site, csv, "--dry-run")
    assert dry.exit_code == 0
    assert dry.stderr.splitlines() == skipped  # before the fix: nothing said
    assert "  2 rader hoppas över" in dry.stdout.replace("2 giltiga adresser, ", "")
    result = send_list(run, site, csv)
    assert result.exit_code == 0, result.output  # before the fix: a traceback after one
    assert result.stderr.splitlines()[:2] == skipped
    assert sorted(server.handler.by_recipient()) == ["a@example.se", "d@example.se"]


def test_a_message_that_cannot_be_built_fails_alone(site, server, run, monkeypatch):
    from nyhetsbrev.delivery import send

    real = send._wired  # where a list send builds each recipient's message

    def wired(template, to, *args, **kwargs):
        if to == "mottagare01@kommun1.example.se":
            raise ValueError("trasig mottagare")
        return real(template, to, *args, **kwargs)

    monkeypatch.setattr(send, "_wired", wired)
    result = send_list(run, site, recipients(site, 4))
    assert result.exit_code == 1
    assert (
        "mottagare01@kommun1.example.se: brevet kunde inte byggas (trasig mottagare)\n"
        in result.stderr
    )
    assert len(server.handler.messages) == 3
    assert ledger_rows(site)["mottagare01@kommun1.example.se"] == (
        "failed",
        "brevet kunde inte byggas (trasig mottagare)",
    )


# --- secrets and logins --------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["x", "kort-hemlighet", "å" * 15])
def test_a_short_unsubscribe_secret_is_refused(site, server, run, monkeypatch, secret):
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", secret)
    size = len(secret.encode())
    expected = (
        f"miljövariabeln NYHETSBREV_UNSUBSCRIBE_SECRET är för kort ({size} byte; minst 32): "
        "den som gissar hemligheten kan avregistrera vem som helst. Skapa en ny med "
        '`python -c "import secrets; print(secrets.token_urlsafe(32))"` och sätt samma värde '
        "för avregistreringssidan\n"
    )
    listed = send_list(run, site, recipients(site, 2))
    tested = run("send", ISSUE, "--root", site, "--skip-web-check", "--to", "mig@example.se")
    assert (listed.exit_code, tested.exit_code) == (1, 1)
    assert listed.stderr == tested.stderr == expected
    assert server.handler.messages == []


def test_tokens_refuse_a_short_secret_and_any_token_text_is_an_answer():
    from nyhetsbrev.subscriptions.recipients import token, verify

    with pytest.raises(ValueError, match="minst 32"):
        token("", "a@example.se")
    good = token(SECRET, "a@example.se")
    assert verify(SECRET, "A@example.se", good)
    for candidate in ["åäö", "\u2028", good[:-1] + "é", "", good.upper()]:
        assert verify(SECRET, "a@example.se", candidate) is False  # before: TypeError on åäö


def test_a_clear_text_login_to_another_machine_is_refused(tree, run, monkeypatch):
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8").replace('host = "127.0.0.1"', 'host = "smtp.example.se"')
    toml.write_text(text.replace('user = ""', 'user = "utskick"'), "utf-8")
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", PASSWORD)
    line = text.split("\n").index('security = "none"') + 1
    expected = (
        f'newsletter.toml:{line}: [smtp] security = "none" med user = "utskick" skulle skicka '
        'lösenordet okrypterat till smtp.example.se; använd "starttls" eller "tls". '
        "Okrypterad inloggning tillåts bara mot en server på den egna datorn (localhost eller "
        "127.0.0.1)\n"
    )
    tested = run("send", ISSUE, "--root", tree, "--skip-web-check", "--to", "mig@example.se")
    listed = send_list(run, tree, recipients(tree, 2))
    assert (tested.exit_code, listed.exit_code) == (1, 1)
    assert tested.stderr == listed.stderr == expected
    assert not (tree / ".nyhetsbrev" / "sends.sqlite").exists()


# --- after the send ------------------------------------------------------------------------


def test_a_complete_send_sets_status_sent_and_changes_nothing_else(site, server, run):
    path = site / "newsletters" / "2022" / "2022-10" / "issue.md"
    text = path.read_text("utf-8").replace("status: ready", "status:  ready   # klart")
    before = "\ufeff".encode() + text.replace("\n", "\r\n").encode()
    path.write_bytes(before)
    csv = recipients(site, 3)
    server.handler.reject["mottagare01@kommun1.example.se"] = "550 nej"
    result = send_list(run, site, csv)
    assert result.exit_code == 1  # one failed: sent or failed is complete
    assert "Alla mottagare är klara: newsletters/2022/2022-10/issue.md har nu status: sent\n" in (
        result.stdout
    )
    after = path.read_bytes()
    assert after == before.replace(b"status:  ready   # klart", b"status:  sent   # klart")
    refused = send_list(run, site, csv)
    assert refused.exit_code == 1 and 'numret har status "sent"' in refused.stderr


def test_an_unfinished_send_leaves_status_ready(site, server, run):
    path = site / "newsletters" / "2022" / "2022-10" / "issue.md"
    before = path.read_bytes()
    server.handler.transient["mottagare00@kommun0.example.se"] = 99
    result = send_list(run, site, recipients(site, 8), "--pause-after", "1")
    assert "Utskicket pausades" in result.stderr
    assert path.read_bytes() == before


def test_a_ledger_from_before_the_uncertain_state_is_upgraded(tmp_path):
    path = tmp_path / "sends.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        ledger.SCHEMA.replace(", 'uncertain'", "")
        + "INSERT INTO sends VALUES ('2022-10', 'a@x.se', 'sent', '250 ok', '<m>', 1, 'nu');"
    )
    db.close()
    with ledger.Ledger(path) as book:
        book.add("2022-10", ["b@x.se"])
        book.finish("2022-10", "b@x.se", ledger.UNCERTAIN, "tidsgräns")
        assert {a: r.state for a, r in book.rows("2022-10").items()} == {
            "a@x.se": "sent",
            "b@x.se": "uncertain",
        }


# --- the web version must be online first -------------------------------------------------


@pytest.fixture
def archive(site: Path, tmp_path: Path, monkeypatch):
    """Serve the built archive over HTTPS on 127.0.0.1, with base_url pointed at it.

    The certificate is made for 127.0.0.1 here and trusted through SSL_CERT_FILE, which the
    standard library's default TLS context reads, so the send checks it as it would any site.
    """
    import functools
    import http.server
    import threading

    cert, key = certificate(tmp_path, days=1)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    public = tmp_path / "public"
    public.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(public))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    # An image in the issue, so the check has one to look for.
    folder = site / "newsletters" / "2022" / "2022-10"
    shutil.copy(site / "newsletters" / "2022" / "2022-03" / "plan.png", folder / "plan.png")
    edit(
        site,
        "newsletters/2022/2022-10/valj-att-sluta.md",
        "summary:",
        "image: plan.png\nimage_alt: Omslaget till planen\nsummary:",
    )
    edit(
        site,
        "newsletter.toml",
        'base_url = "https://nyhetsbrev.example.se"',
        f'base_url = "https://127.0.0.1:{port}"',
    )
    try:
        yield public, f"https://127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_list_send_waits_for_the_web_version(site, server, run, archive):
    public, base = archive
    csv = recipients(site, 3)
    nothing = send_list(run, site, csv, web_check=True)
    assert nothing.exit_code == 1
    assert nothing.stderr.startswith(
        f"webbversionen av numret är inte publicerad: tre av tre adresser under {base} som "
        "brevet länkar till svarar inte med 200 (OK):\n"
        f"  {base}/2022/2022-10/: svarade 404\n"
    )
    assert nothing.stderr.endswith(
        'Brevets bilder, länken "Visa i webbläsare" och kalenderfilerna pekar dit. Publicera '
        "public/ från build först, eller skicka ändå med --skip-web-check\n"
    )
    assert server.handler.messages == []  # before the fix: sent with broken links

    built = run("build", "--root", site, "--out", public)
    assert built.exit_code == 0, built.output
    image = next(public.glob("2022/2022-10/*.png"))
    image.rename(image.with_suffix(".old"))
    half = send_list(run, site, csv, web_check=True)
    assert half.exit_code == 1
    assert half.stderr.splitlines()[:2] == [
        f"webbversionen av numret är inte publicerad: en av tre adresser under {base} som "
        "brevet länkar till svarar inte med 200 (OK):",
        f"  {base}/2022/2022-10/{image.name}: svarade 404",
    ]
    assert server.handler.messages == []

    test = run("send", ISSUE, "--root", site, "--to", "mig@example.se")
    assert test.exit_code == 0  # a test send only warns
    assert test.stderr.startswith("varning: webbversionen av numret är inte publicerad: en av tre")
    assert len(server.handler.messages) == 1

    image.with_suffix(".old").rename(image)
    result = send_list(run, site, csv, web_check=True)
    assert result.exit_code == 0, result.output
    assert len(server.handler.messages) == 4


def test_skip_web_check_sends_without_asking(site, server, run):
    port = free_port()  # nothing listens there
    toml = site / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8").replace(
            'https://nyhetsbrev.example.se"', f'https://127.0.0.1:{port}"'
        ),
        "utf-8",
    )
    csv = recipients(site, 2)
    refused = send_list(run, site, csv, web_check=True)
    assert refused.exit_code == 1
    assert f"  https://127.0.0.1:{port}/2022/2022-10/: svarar inte (" in refused.stderr
    assert send_list(run, site, csv).exit_code == 0
    assert len(server.handler.messages) == 2


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        (
            "address",
            "nyhetsbrev@länsstyrelsen.example.se",
            '"nyhetsbrev@länsstyrelsen.example.se" har tecken utanför ASCII; skriv '
            '"nyhetsbrev@xn--lnsstyrelsen-gcb.example.se", den form som e-postservrar använder',
        ),
        ("address", "nyhets brev@example.se", "mellanslag i adressen"),
        ("reply_to", "svar", "@ saknas"),
    ],
)
def test_a_sender_address_that_cannot_be_sent_is_refused_before_anything(
    site, server, run, key, value, why
):
    toml = site / "newsletter.toml"
    text = toml.read_text("utf-8")
    old = {"address": "nyhetsbrev@example.se", "reply_to": "svar@example.se"}[key]
    toml.write_text(text.replace(f'{key} = "{old}"', f'{key} = "{value}"'), "utf-8")
    line = text.split("\n").index(f'{key} = "{old}"') + 1
    for more in [("--dry-run",), ()]:
        result = send_list(run, site, recipients(site, 2), *more)
        assert result.exit_code == 1  # before the fix: a traceback from the email library
        assert result.stderr.startswith(f"newsletter.toml:{line}: [sender] {key}: ")
        assert why in result.stderr
    assert server.handler.messages == []


def test_a_quote_left_open_names_the_lines_it_swallowed(site, server, run):
    csv = site / "lista.csv"
    csv.write_text('email,name\na@example.se,A\nb@example.se,"Bo\nc@example.se,C\n', "utf-8")
    result = send_list(run, site, csv, "--dry-run")
    assert result.stderr == (
        f'{csv.as_posix()}:3: namnet "Bo\\nc@example.se,C\\n" innehåller en radbrytning eller '
        "ett annat styrtecken (värdet fortsätter till rad 4: saknas ett avslutande "
        "citattecken?); raden hoppas över\n"
    )


def test_a_value_too_long_for_csv_refuses_the_file_with_its_line(site, server, run):
    csv = site / "lista.csv"
    csv.write_text(f'email,name\na@example.se,A\nb@example.se,"{"x" * 200_000}"\n', "utf-8")
    result = send_list(run, site, csv)
    # before the fix: a traceback from the csv module
    refused(
        result,
        server,
        (
            f"{csv.as_posix()}:3: raden kan inte läsas: ett värde är längre än "
            "131\u00a0072 tecken; rätta den i filen\n"
        ),
    )


def test_a_rerun_without_the_ledger_is_refused(site, server, run):
    csv = recipients(site, 5)
    server.handler.transient["mottagare02@kommun2.example.se"] = 99
    first = send_list(run, site, csv, "--pause-after", "1")
    assert "Utskicket pausades" in first.stderr
    assert len(server.handler.messages) == 2
    (site / ".nyhetsbrev" / "sends.sqlite").unlink()
    expected = (
        ".nyhetsbrev/sends.sqlite: utskicksregistret saknas, men ett tidigare utskick har "
        "skrivit i det. Registret är minnet av vem som fått vilket nummer: utan det får alla "
        "numret igen. Återställ filen (t.ex. från en säkerhetskopia). Vill du verkligen börja "
        "om från noll, ta bort .nyhetsbrev/sends.sqlite.lock\n"
    )
    for more in [("--dry-run",), ()]:
        again = send_list(run, site, csv, *more)
        assert again.exit_code == 1
        assert again.stderr == expected  # before the fix: the three got it a second time
    assert len(server.handler.messages) == 2
    (site / ".nyhetsbrev" / "sends.sqlite.lock").unlink()
    server.handler.transient.clear()
    assert send_list(run, site, csv).exit_code == 0  # starting over, as asked
    assert len(server.handler.messages) == 7


def test_an_outcome_held_back_is_committed_with_the_next_begin(tmp_path):
    """One transaction per message: the last outcome and the next begin, before its DATA."""
    path = tmp_path / "sends.sqlite"
    with ledger.Ledger(path) as book:
        book.add("2022-10", ["a@x.se", "b@x.se"])
        book.begin("2022-10", "a@x.se", "<a@x>")
        book.finish_later("2022-10", "a@x.se", ledger.SENT, "250 ok")
        other = sqlite3.connect(path)
        state = "SELECT address, state, attempts FROM sends ORDER BY address"
        assert other.execute(state).fetchall() == [
            ("a@x.se", "pending", 1),
            ("b@x.se", "pending", 0),
        ]
        statements: list[str] = []
        book.db.set_trace_callback(statements.append)
        book.begin("2022-10", "b@x.se", "<b@x>")
        assert [s.split()[0] for s in statements] == ["UPDATE"]  # one statement, one commit
        assert other.execute(state).fetchall() == [("a@x.se", "sent", 1), ("b@x.se", "pending", 1)]
        book.finish_later("2022-10", "b@x.se", ledger.FAILED, "550 nej")
    # closing the ledger commits what was held back
    assert other.execute(state).fetchall() == [("a@x.se", "sent", 1), ("b@x.se", "failed", 1)]
    other.close()


@pytest.mark.parametrize("done_was", ["pending", "sent", "failed", "uncertain"])
@pytest.mark.parametrize("next_was", ["pending", "sent", "failed", "uncertain"])
@pytest.mark.parametrize("outcome", [ledger.SENT, ledger.FAILED, ledger.UNCERTAIN])
def test_the_outcome_and_the_next_begin_in_one_statement_are_the_two_statements(
    tmp_path, done_was, next_was, outcome
):
    """The held-back outcome and the next begin, in one UPDATE, leave every row as the
    outcome's own UPDATE followed by the begin's would (a sent row is never changed)."""
    rows = "SELECT address, state, reply, message_id, attempts FROM sends ORDER BY address"
    found = []
    for together in (True, False):
        with ledger.Ledger(tmp_path / f"{together}.sqlite") as book:
            book.add("2022-10", ["a@x.se", "b@x.se", "c@x.se"])
            for address, state in (("a@x.se", done_was), ("b@x.se", next_was)):
                book.begin("2022-10", address, f"<{address}.old>")
                book.finish("2022-10", address, state, f"{state} förut")
            if together:
                book.finish_later("2022-10", "a@x.se", outcome, "svaret")
            else:
                book.finish("2022-10", "a@x.se", outcome, "svaret")
            book.begin("2022-10", "b@x.se", "<b@x.se.ny>")
            found.append(book.db.execute(rows).fetchall())
            plan = " ".join(
                str(r[-1])
                for r in book.db.execute(
                    "EXPLAIN QUERY PLAN UPDATE sends SET state = 'x' "
                    "WHERE issue = 'i' AND address IN ('a', 'b')"
                )
            )
            assert "USING INDEX" in plan  # two rows looked up, not the table scanned
    assert found[0] == found[1]


def test_the_library_returns_the_report_the_command_prints(site, server):
    """mailing.list_send holds the policy; the command line only prints its report."""
    import contextlib

    from nyhetsbrev.delivery import mailing

    steps: list[int] = []

    @contextlib.contextmanager
    def progress(n: int):
        steps.append(n)
        yield lambda: steps.append(-1)

    warnings: list[str] = []
    csv = recipients(site, 3, "inte-en-adress,Nej\n")
    content, issue = mailing.start(site, ISSUE, warnings.append)
    options = mailing.Options(mailing.Policy(wait=0.01), skip_web_check=True)
    dry = mailing.list_send(content, issue, csv, mailing.Options(dry_run=True), print, progress)
    assert dry.lines[0].text.startswith("Provkörning, inget skickas:") and not dry.failure
    assert server.handler.messages == [] and steps == []
    report = mailing.list_send(content, issue, csv, options, warnings.append, progress)
    assert [o.state for o in report.outcomes] == ["sent"] * 3
    assert report.failure == "" and steps == [3, -1, -1, -1]
    assert len(warnings) == 1 and warnings[0].startswith(f"{csv.as_posix()}:5: ")
    assert report.lines[-1].text == (
        "Alla mottagare är klara: newsletters/2022/2022-10/issue.md har nu status: sent"
    )
    assert not any(line.error for line in report.lines)
