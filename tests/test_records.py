"""Sent issues kept as records: the archive package after a list send to aiosmtpd."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from pathlib import Path

from nyhetsbrev.delivery.send import PLACEHOLDER

from .test_send import ISSUE, recipients, send_list

PACKAGE = Path("arkiv") / "2022" / ISSUE


def sent(run, site: Path, n: int = 3, extra: str = "") -> Path:
    result = send_list(run, site, recipients(site, n, extra))
    assert result.exit_code == 0, result.output
    return site / PACKAGE


def test_a_list_send_writes_the_archive_package(site, server, run):
    suppressed = (site / "suppression.csv").read_text("utf-8").split("\n")[1].split(",")[0]
    package = sent(run, site, 3, extra=f"{suppressed},Avregistrerad\ninte-en-adress,Fel\n")
    names = sorted(p.name for p in package.iterdir())
    assert names == ["SHA256SUMS", "email.html", "email.txt", "message.eml", "metadata.json"]
    sums = {
        name: digest
        for digest, name in (
            line.split("  ") for line in (package / "SHA256SUMS").read_text().splitlines()
        )
    }
    for name in names[1:]:
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == sums[name], name
    meta = json.loads((package / "metadata.json").read_text("utf-8"))
    assert meta["subject"] == "Nyhetsbrev oktober 2022"
    assert meta["sender"] == "Länsstyrelsen i Testlän <nyhetsbrev@example.se>"
    assert (meta["sent"], meta["failed"], meta["skipped"]) == (3, 0, 2)
    assert meta["smtp_host"] == "127.0.0.1"
    assert meta["tool_version"]
    assert meta["first_sent"] <= meta["last_sent"]
    assert meta["web_version"] == "https://nyhetsbrev.example.se/2022/2022-10/"
    for name in ("message.eml", "email.html", "email.txt"):
        assert meta["sha256"][name] == sums[name]

    archived = email.message_from_bytes(
        (package / "message.eml").read_bytes(), policy=email.policy.default
    )
    _, first = server.handler.parsed()[0]
    assert archived["Subject"] == first["Subject"]
    assert archived["Archived-At"] == first["Archived-At"]
    assert first["Archived-At"] == "<https://nyhetsbrev.example.se/2022/2022-10/>"
    html = archived.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert PLACEHOLDER in html  # the personal link's place, no recipient's own link
    assert "token=" not in html and "mottagare" not in (package / "message.eml").read_text()
    # Apart from each recipient's own link, the archived parts are the sent ones.
    sent_html = first.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert sent_html.replace(_own_link(sent_html), PLACEHOLDER) == html
    assert (package / "email.html").read_text("utf-8") == html


def _own_link(html: str) -> str:
    start = html.index("https://nyhetsbrev.example.se/avsluta?token=")
    return html[start : html.index('"', start)]


def test_check_passes_an_untouched_package_and_flags_a_changed_byte(site, server, run):
    package = sent(run, site)
    assert run("check", "--root", site).exit_code == 0
    path = package / "email.txt"
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    result = run("check", "--root", site)
    assert result.exit_code == 1
    assert (
        f"{PACKAGE.as_posix()}/email.txt:1: filen har ändrats sedan numret skickades "
        "(kontrollsumman stämmer inte med SHA256SUMS); ett arkiverat utskick får inte "
        "ändras: återställ filen"
    ) in result.stderr.splitlines()


def test_check_flags_a_missing_file_and_a_missing_checksum_list(site, server, run):
    package = sent(run, site)
    (package / "metadata.json").unlink()
    result = run("check", "--root", site)
    assert result.exit_code == 1
    assert (
        f"{PACKAGE.as_posix()}/metadata.json:1: filen saknas i arkivpaketet men finns i SHA256SUMS"
    ) in result.stderr.splitlines()
    (package / "SHA256SUMS").unlink()
    result = run("check", "--root", site)
    assert (
        f"{PACKAGE.as_posix()}/SHA256SUMS:1: filen saknas: arkivpaketet går inte att kontrollera"
    ) in result.stderr.splitlines()


def test_a_resumed_send_rewrites_the_package_with_the_new_counts(site, server, run):
    server.handler.reject["mottagare01@kommun1.example.se"] = "550 5.1.1 Okänd mottagare"
    csv = recipients(site, 3)
    assert send_list(run, site, csv).exit_code == 1
    meta = json.loads((site / PACKAGE / "metadata.json").read_text("utf-8"))
    assert (meta["sent"], meta["failed"]) == (2, 1)
    server.handler.reject.clear()
    issue = site / "newsletters" / PACKAGE.parts[-2] / PACKAGE.parts[-1] / "issue.md"
    text = issue.read_text("utf-8")
    assert "status: sent" in text  # a complete send, failures included, marks it sent
    issue.write_text(text.replace("status: sent", "status: ready"), "utf-8")  # as it says
    assert send_list(run, site, csv).exit_code == 0
    meta = json.loads((site / PACKAGE / "metadata.json").read_text("utf-8"))
    assert (meta["sent"], meta["failed"]) == (3, 0)
    assert run("check", "--root", site).exit_code == 0
