"""`doctor`: each check's ok, varning and fel, against real local servers and DNS from a table.

SMTP checks talk to aiosmtpd on 127.0.0.1 with and without STARTTLS (a certificate made by
openssl for the test); the subscription check to a real HTTP server on 127.0.0.1. DNS answers
come from a table passed in as the resolver: the internet is never asked.
"""

from __future__ import annotations

import dataclasses
import http.server
import ssl
import subprocess
import threading
from pathlib import Path

import dkim
import pytest

from nyhetsbrev.content.config import load_site
from nyhetsbrev.content.models import Bounces, Dkim, Privacy, Smtp, Subscriptions
from nyhetsbrev.delivery import doctor, signing

from .smtp import PASSWORD, free_port, running
from .smtp import certificate as make_certificate
from .test_dkim import KEY, PUBLIC, SELECTOR

GOOD_DNS = {
    "example.se": ["v=spf1 mx ip4:192.0.2.10 -all", "google-site-verification=abc"],
    f"{SELECTOR}._domainkey.example.se": [f"v=DKIM1; k=rsa; p={PUBLIC}"],
    "_dmarc.example.se": ["v=DMARC1; p=reject; rua=mailto:dmarc@example.se"],
}


def table(records: dict[str, list[str]]) -> doctor.Resolver:
    def lookup(name: str) -> list[str]:
        return records.get(name.rstrip("."), [])

    return lookup


def silent(name: str) -> list[str]:
    raise doctor.LookupFailed("The DNS operation timed out")


@pytest.fixture
def site(tree: Path, monkeypatch):
    found, problems = load_site(tree)
    assert found is not None, problems
    monkeypatch.setenv(signing.KEY_ENV, str(KEY))
    monkeypatch.delenv("NYHETSBREV_SMTP_PASSWORD", raising=False)
    return dataclasses.replace(
        found,
        dkim=Dkim("example.se", SELECTOR),
        bounces=Bounces(address="studs@example.se"),
    )


def level(checks: list[doctor.Check], name: str) -> tuple[str, str]:
    found = [c for c in checks if c.name == name]
    assert found, checks
    return found[-1].level, found[-1].text


# --- SMTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def starttls(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    with running(auth=True, tls=context) as s:
        yield s


def smtp_of(site, port: int, security: str, user: str = ""):
    return dataclasses.replace(site, smtp=Smtp("127.0.0.1", port, security, user))


def test_starttls_offered_and_login_accepted(site, starttls, certificate, monkeypatch):
    monkeypatch.setenv("NYHETSBREV_SMTP_PASSWORD", PASSWORD)
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    checks = doctor.smtp_checks(
        smtp_of(site, starttls.port, "starttls", "nyhetsbrev"), PASSWORD, 5, trusting
    )
    assert [c.level for c in checks] == ["ok", "ok", "ok"], checks
    assert "STARTTLS" in level(checks, "Kryptering")[1]


def test_a_wrong_password_or_none_is_an_error(site, starttls, certificate):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    smtp = smtp_of(site, starttls.port, "starttls", "nyhetsbrev")
    wrong = doctor.smtp_checks(smtp, "fel-lösen", 5, trusting)
    assert level(wrong, "Inloggning")[0] == "fel"
    assert 'inloggningen som "nyhetsbrev" nekades (535' in level(wrong, "Inloggning")[1]
    missing = doctor.smtp_checks(smtp, None, 5, trusting)
    assert level(missing, "Inloggning") == (
        "fel",
        '[smtp] user är "nyhetsbrev" men miljövariabeln NYHETSBREV_SMTP_PASSWORD är inte satt; '
        "sätt den i skalet",
    )


def test_an_untrusted_certificate_is_an_error(site, starttls):
    checks = doctor.smtp_checks(smtp_of(site, starttls.port, "starttls"), None, 5)
    assert level(checks, "Kryptering")[0] == "fel"
    assert "STARTTLS erbjuds men misslyckades" in level(checks, "Kryptering")[1]


def test_no_starttls_is_an_error_and_none_off_this_machine_a_warning(site, server):
    checks = doctor.smtp_checks(smtp_of(site, server.port, "starttls"), None, 5)
    assert level(checks, "SMTP-servern")[0] == "ok"
    assert level(checks, "Kryptering")[0] == "fel"
    assert "servern erbjuder inte STARTTLS" in level(checks, "Kryptering")[1]
    assert [c.name for c in checks] == ["SMTP-servern", "Kryptering"]  # no login in clear
    local = doctor.smtp_checks(smtp_of(site, server.port, "none"), None, 5)
    assert [c.level for c in local] == ["ok", "ok", "ok"]
    far = doctor._encryption(None, "none", "smtp.example.se", ssl.create_default_context())  # type: ignore[arg-type]
    assert far.level == "varning"


def test_an_unreachable_server_is_an_error(site):
    checks = doctor.smtp_checks(smtp_of(site, free_port(), "starttls"), None, 2)
    assert level(checks, "SMTP-servern")[0] == "fel"
    assert "svarar inte" in level(checks, "SMTP-servern")[1]


def test_a_server_that_trickles_its_greeting_is_an_error_within_the_timeout(site):
    """One byte at a time, each within the timeout: the greeting as a whole is not, so the
    check gives up after the timeout instead of waiting for as long as the server likes."""
    import socketserver
    import time

    stop = threading.Event()

    class Trickle(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                for byte in b"220-" + b"x" * 1000:
                    if stop.wait(0.3):
                        return
                    self.wfile.write(bytes([byte]))
            except OSError:
                return

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Trickle) as trickling:
        trickling.daemon_threads = True
        threading.Thread(target=trickling.serve_forever, daemon=True).start()
        timer = threading.Timer(8, stop.set)  # without the bound: a failure, not a hang
        timer.start()
        started = time.monotonic()
        try:
            checks = doctor.smtp_checks(smtp_of(site, trickling.server_address[1], "none"), None, 1)
        finally:
            stop.set()
            timer.cancel()
            trickling.shutdown()
    assert time.monotonic() - started < 4
    assert level(checks, "SMTP-servern")[0] == "fel"


# --- DNS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "records,expected,words",
    [
        (["v=spf1 mx -all"], "ok", "v=spf1 mx -all"),
        (["v=spf1 mx"], "varning", 'avslutas inte med "-all"'),
        (["v=spf1 +all"], "fel", "godkänner alla servrar"),
        (["v=spf1 mx -all", "v=spf1 a -all"], "fel", "har 2 SPF-poster"),
        ([], "fel", "har ingen SPF-post"),
    ],
)
def test_spf(site, records, expected, words):
    found = doctor.spf_check(site, table({"example.se": records}))
    assert found.level == expected and words in found.text, found


def test_dns_that_does_not_answer_is_a_warning(site):
    for check in (doctor.spf_check, doctor.dkim_check, doctor.dmarc_check):
        found = check(site, silent)
        assert found.level == "varning" and "DNS svarade inte" in found.text


def test_dkim_record_must_match_the_key(site, tmp_path):
    assert doctor.dkim_check(site, table(GOOD_DNS)).level == "ok"
    other = tmp_path / "annan.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(other), "1024"], check=True, capture_output=True
    )
    wrong = subprocess.run(
        ["openssl", "rsa", "-in", str(other), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    import base64

    records = GOOD_DNS | {
        f"{SELECTOR}._domainkey.example.se": [
            f"v=DKIM1; k=rsa; p={base64.b64encode(wrong).decode()}"
        ]
    }
    found = doctor.dkim_check(site, table(records))
    assert found.level == "fel" and "hör inte till den privata nyckeln" in found.text
    missing = doctor.dkim_check(site, table({}))
    assert missing.level == "fel" and "har ingen DKIM-post" in missing.text
    unsigned = doctor.dkim_check(dataclasses.replace(site, dkim=None), table(GOOD_DNS))
    assert unsigned.level == "varning" and "[dkim] saknas" in unsigned.text


@pytest.mark.parametrize(
    "records,expected,words",
    [
        ({"_dmarc.example.se": ["v=DMARC1; p=reject"]}, "ok", "p=reject"),
        ({"_dmarc.example.se": ["v=DMARC1; p=none"]}, "varning", "p=none"),
        ({}, "fel", "har ingen DMARC-post"),
    ],
)
def test_dmarc(site, records, expected, words):
    found = doctor.dmarc_check(site, table(records))
    assert found.level == expected and words in found.text, found


def test_dmarc_of_a_subdomain_is_found_at_the_registered_domain(site):
    sub = dataclasses.replace(site, sender_address="nyhetsbrev@info.example.se")
    found = doctor.dmarc_check(sub, table({"_dmarc.example.se": ["v=DMARC1; p=quarantine"]}))
    assert found.level == "ok" and "_dmarc.example.se" in found.text


def test_alignment(site):
    assert doctor.alignment_check(site).level == "ok"
    no_dkim = doctor.alignment_check(dataclasses.replace(site, dkim=None))
    assert no_dkim.level == "varning" and "bara SPF stämmer" in no_dkim.text
    elsewhere = dataclasses.replace(site, bounces=Bounces(address="studs@utskick.example.net"))
    assert doctor.alignment_check(elsewhere).level == "varning"
    neither = dataclasses.replace(elsewhere, dkim=Dkim("utskick.example.net", "s1"))
    found = doctor.alignment_check(neither)
    assert found.level == "fel" and "DMARC underkänner breven" in found.text


# --- the message and the service ----------------------------------------------------------


@pytest.fixture
def content(tree: Path):
    from nyhetsbrev.build.pipeline import load_content

    return load_content(tree).content


def test_list_unsubscribe_headers_present_and_signed(site, content):
    signed = doctor.sample_message(content, site)
    assert doctor.header_check(signed, True).level == "ok"
    unsigned_site = dataclasses.replace(site, dkim=None)
    unsigned = doctor.sample_message(content, unsigned_site)
    assert doctor.header_check(unsigned, False).level == "varning"
    without = unsigned.replace(b"List-Unsubscribe-Post:", b"X-Removed:")
    found = doctor.header_check(without, False)
    assert found.level == "fel" and "List-Unsubscribe-Post" in found.text
    narrow = (
        dkim.sign(unsigned, SELECTOR.encode(), b"example.se", KEY.read_bytes(), linesep=b"\r\n")
        + unsigned
    )  # dkimpy's default list, without List-Unsubscribe-Post
    found = doctor.header_check(narrow, True)
    assert found.level == "fel" and "omfattar inte båda" in found.text


class Answer(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def with_service(site, port: int):
    privacy = Privacy("a", "b", "c", "d")
    service = Subscriptions(f"http://127.0.0.1:{port}", Path("x.sqlite"), privacy)
    return dataclasses.replace(site, subscriptions=service)


def test_the_subscription_service(site, web, monkeypatch):
    port = web.server_address[1]
    assert doctor.service_check(with_service(site, port), 5).level == "ok"
    monkeypatch.setattr(Answer, "status", 500)
    found = doctor.service_check(with_service(site, port), 5)
    assert found.level == "fel" and "svarade 500" in found.text
    down = doctor.service_check(with_service(site, free_port()), 5)
    assert down.level == "fel" and "svarar inte" in down.text
    assert doctor.service_check(site, 5).level == "varning"


def test_doctor_command_prints_each_check_and_exits_1_on_an_error(tree, server, run, monkeypatch):
    toml = tree / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8").replace("port = 2525", f"port = {server.port}")
        + f'\n[dkim]\ndomain = "example.se"\nselector = "{SELECTOR}"\n'
        + '\n[bounces]\naddress = "studs@example.se"\n',
        "utf-8",
    )
    monkeypatch.setenv(signing.KEY_ENV, str(KEY))
    monkeypatch.setattr(doctor, "dns_txt", lambda timeout: table(GOOD_DNS))
    result = run("doctor", "--root", tree, "--timeout", "5")
    assert result.exit_code == 0, result.output  # no [subscriptions]: only a warning
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok       SMTP-servern: 127.0.0.1:{server.port} svarar"
    assert any(line.startswith("ok       SPF: example.se: v=spf1") for line in lines)
    assert any(line.startswith("ok       DKIM:") for line in lines)
    assert any(line.startswith("ok       List-Unsubscribe:") for line in lines)
    assert any(line.startswith("varning  Prenumerationstjänsten:") for line in lines)
    assert lines[-1] == "Kontrollerna är klara: 0 fel, 1 varning"

    without_dmarc = {k: v for k, v in GOOD_DNS.items() if not k.startswith("_dmarc")}
    monkeypatch.setattr(doctor, "dns_txt", lambda timeout: table(without_dmarc))
    result = run("doctor", "--root", tree, "--timeout", "5")
    assert result.exit_code == 1
    assert "fel      DMARC: example.se har ingen DMARC-post" in result.stdout
    assert "Kontrollerna är klara: 1 fel, 1 varning; rätta felen före nästa utskick" in (
        result.stdout
    )
    assert "minst en kontroll gav fel; se ovan" in result.stderr


def test_without_an_issue_the_header_check_is_a_warning(site):
    checks = doctor.run_checks(
        dataclasses.replace(site, smtp=Smtp("127.0.0.1", free_port(), "none")),
        table(GOOD_DNS),
        lambda: None,
        smtp_timeout=2,
    )
    found = level(checks, "List-Unsubscribe")
    assert found[0] == "varning" and "inget nummer" in found[1]


# --- dnspython against a DNS server on 127.0.0.1 --------------------------------------------


class StubDns:
    """A UDP DNS server on 127.0.0.1 that answers TXT from a table (NXDOMAIN otherwise), or
    never answers at all when silent."""

    def __init__(self, records: dict[str, list[str]], silent: bool = False):
        import socket

        self.records = records
        self.silent = silent
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while self.running:
            try:
                data, peer = self.socket.recvfrom(4096)
            except OSError:
                continue
            if self.silent:
                continue
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".")
            if name in self.records and question.rdtype == dns.rdatatype.TXT:
                texts = [f'"{t}"' for t in self.records[name]]
                answer.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *texts))
            else:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.socket.sendto(answer.to_wire(), peer)

    def stop(self) -> None:
        self.running = False
        self.thread.join()
        self.socket.close()


def test_dnspython_asks_the_named_server_and_gives_up_after_the_timeout():
    import time

    stub = StubDns({"example.se": ["v=spf1 mx -all"]})
    try:
        lookup = doctor.dns_txt(2.0, ["127.0.0.1"], stub.port)
        assert lookup("example.se") == ["v=spf1 mx -all"]
        assert lookup("_dmarc.example.se") == []
    finally:
        stub.stop()
    silent = StubDns({}, silent=True)
    try:
        lookup = doctor.dns_txt(0.5, ["127.0.0.1"], silent.port)
        started = time.monotonic()
        with pytest.raises(doctor.LookupFailed):
            lookup("example.se")
        assert time.monotonic() - started < 3
    finally:
        silent.stop()
