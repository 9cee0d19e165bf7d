"""The subscription service, run for real: uvicorn on 127.0.0.1, aiosmtpd receiving the mail."""

from __future__ import annotations

import collections
import email
import email.policy
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from .conftest import FIXTURES, REPO, without_section
from .smtp import free_port

SECRET = "en-testhemlighet-som-ar-minst-32-byte-lang"
ISSUE = "2022-10"
SERVICE_ENV = {"NYHETSBREV_UNSUBSCRIBE_SECRET": SECRET}


class Inbox:
    """An aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.hook = None  # called with each recipient, before the reply

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, envelope.content))
            if self.hook:
                self.hook(rcpt)
        return "250 2.0.0 Ok"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)
            for r, raw in self.messages
            if r == address
        ]

    def wait_for(self, address: str, count: int = 1, timeout: float = 15) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address} in {timeout} s: {len(self.to(address))}")


class Smtp:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def configure(tree: Path, smtp_port: int, service_port: int, per_ip: int = 5) -> str:
    """Point the tree at the SMTP server and give it a [subscriptions] service; return its URL."""
    url = f"http://127.0.0.1:{service_port}"
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8").replace("port = 2525", f"port = {smtp_port}")
    text = without_section(text, "privacy").rstrip("\n") + "\n"
    text += f"""
[subscriptions]
url = "{url}"
pending_days = 7
signups_per_ip_per_hour = {per_ip}

[privacy]
controller = "Länsstyrelsen i Testlän"
contact = "dataskydd@example.se"
legal_basis = "Allmänt intresse: länsstyrelsens uppdrag att samordna arbetet i länet."
retention = "Så länge du prenumererar, och obekräftade anmälningar i en vecka."
"""
    toml.write_text(text, "utf-8")
    return url


class Service:
    """`subscribers serve` in its own process, as in production."""

    def __init__(self, tree: Path, port: int, log: Path):
        self.tree = tree
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        env = {**os.environ, **SERVICE_ENV}
        env.pop("NYHETSBREV_SMTP_PASSWORD", None)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(REPO / "build.py"), "subscribers", "serve"]
                + ["--root", str(self.tree), "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/integritet", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, self.log.read_text("utf-8", "replace")
            time.sleep(0.1)
        raise AssertionError("the service did not start: " + self.log.read_text("utf-8"))

    def kill(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.tree / ".nyhetsbrev" / "subscribers.sqlite", timeout=30)

    def status(self, address: str) -> str | None:
        db = self.db()
        try:
            row = db.execute(
                "SELECT status FROM subscribers WHERE address = ?", (address,)
            ).fetchone()
        finally:
            db.close()
        return row[0] if row else None

    def count(self, table: str = "subscribers") -> int:
        db = self.db()
        try:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            db.close()


def link(msg, kind: str) -> str:
    """Return the service link of this kind (bekrafta, avsluta) in the mail's plain text."""
    text = msg.get_body(("plain",)).get_content()
    found = re.findall(rf"http://127\.0\.0\.1:\d+/{kind}/[A-Za-z0-9_-]+", text)
    assert found, text
    return found[0]


@pytest.fixture(scope="module")
def smtp():
    s = Smtp()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, smtp):
    import shutil

    tree = tmp_path_factory.mktemp("tjanst") / "innehall"
    shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    port = free_port()
    configure(tree, smtp.port, port)
    running = Service(tree, port, tree.parent / "tjanst.log").start()
    yield running
    running.kill()


def client_ip(n: int) -> dict[str, str]:
    """Headers that make the request come from another client (the proxy's X-Forwarded-For)."""
    return {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}


_ips = iter(range(1, 1_000_000))


def signup(service: Service, address: str, name: str = "", **more: str) -> httpx.Response:
    data = {"email": address, "name": name, "webbplats": "", **more}
    return httpx.post(service.url + "/", data=data, headers=client_ip(next(_ips)), timeout=30)


def subscribe(service: Service, smtp: Smtp, address: str) -> None:
    """Sign up and confirm (by the mail's link, POST)."""
    before = len(smtp.inbox.to(address))
    assert signup(service, address).status_code == 200
    mail = smtp.inbox.wait_for(address, before + 1)[-1]
    assert httpx.post(link(mail, "bekrafta"), timeout=10).status_code == 200
    assert service.status(address) == "active"


def ready_again(tree: Path) -> None:
    """Set the issue back to ready after a complete send marked it sent."""
    issue = tree / "newsletters" / ISSUE[:4] / ISSUE / "issue.md"
    issue.write_text(issue.read_text("utf-8").replace("status: sent", "status: ready"), "utf-8")


def send(tree: Path, *args: str | Path):
    """Run `send ISSUE` with args in a process of its own, as a coordinator would."""
    return cli(tree, "send", ISSUE, "--skip-web-check", *args)


def send_subscribers(tree: Path, *more: str):
    """Run `send ISSUE --subscribers`.

    A complete send marks the issue sent; to send it again (to show who is skipped), the
    coordinator sets it back to ready, as the refusal says.
    """
    ready_again(tree)
    return send(tree, "--subscribers", "--retry-wait", "0.01", *more)


def cli(tree: Path, *args: str | Path, secret: str = SECRET):
    """Run the command line in a process of its own, without an SMTP password."""
    env = {**os.environ, "NYHETSBREV_UNSUBSCRIBE_SECRET": secret}
    env.pop("NYHETSBREV_SMTP_PASSWORD", None)
    return subprocess.run(
        [sys.executable, str(REPO / "build.py"), *map(str, args), "--root", str(tree)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def unsubscribe_header(msg) -> str:
    """Return the https/http URL in the List-Unsubscribe header of a received message."""
    header = str(msg["List-Unsubscribe"])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = re.findall(r"<(https?://[^>]+)>", header)
    assert len(found) == 1, header
    return found[0]


# --- sign-up and confirmation ----------------------------------------------------------------


def test_signup_mails_a_confirmation_and_only_a_post_confirms(service, smtp):
    address = "ny.prenumerant@kommun.example.se"
    response = signup(service, "Ny.Prenumerant@Kommun.Example.se", "Nina Ny")
    assert response.status_code == 200
    assert "<h1>Kolla din e-post</h1>" in response.text
    assert "set-cookie" not in response.headers
    assert service.status(address) == "pending"
    (mail,) = smtp.inbox.wait_for(address)
    assert mail["Subject"] == "Bekräfta din prenumeration på Testbrevet"
    assert str(mail["To"]) == "Nina Ny <ny.prenumerant@kommun.example.se>"
    html = mail.get_body(("html",)).get_content()
    confirm = link(mail, "bekrafta")
    assert confirm in html and "Bekräfta prenumerationen" in html
    assert f"{service.url}/integritet" in html
    assert address not in confirm and "kommun" not in confirm  # no address in any URL
    page = httpx.get(confirm, timeout=10)  # a mail scanner following the link
    assert page.status_code == 200 and "Bekräfta prenumerationen" in page.text
    assert service.status(address) == "pending"
    done = httpx.post(confirm, timeout=10, follow_redirects=False)
    assert done.status_code == 200 and "Tack, nu prenumererar du" in done.text
    assert service.status(address) == "active"
    again = httpx.post(confirm, timeout=10)
    assert again.status_code == 400 and "Länken gäller inte" in again.text
    db = service.db()
    (name,) = db.execute("SELECT name FROM subscribers WHERE address = ?", (address,)).fetchone()
    events = db.execute(
        "SELECT action, how, notice FROM events JOIN subscribers ON id = subscriber "
        "WHERE address = ? ORDER BY seq",
        (address,),
    ).fetchall()
    db.close()
    assert name == "Nina Ny"
    assert [e[:2] for e in events] == [
        ("anmälan", "formuläret"),
        ("bekräftelse", "knappen på bekräftelsesidan"),
    ]
    assert re.fullmatch(r"[0-9a-f]{12}", events[0][2])  # the information text's version


def test_known_and_unknown_addresses_get_the_same_answer(service, smtp):
    subscribe(service, smtp, "redan.med@example.se")
    known = signup(service, "redan.med@example.se")
    unknown = signup(service, "helt.okand@example.se")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    time.sleep(0.5)
    assert len(smtp.inbox.to("redan.med@example.se")) == 1  # an active subscriber gets none


def test_at_most_one_confirmation_mail_per_address_and_hour(service, smtp):
    for _ in range(3):
        assert signup(service, "trebantig@example.se").status_code == 200
    smtp.inbox.wait_for("trebantig@example.se")
    time.sleep(1.5)
    assert len(smtp.inbox.to("trebantig@example.se")) == 1


# --- bad input -------------------------------------------------------------------------------

BAD = {
    "invalid address": ({"email": "inte-en-adress"}, 400, "@ saknas"),
    "no domain dot": ({"email": "namn@kommun"}, 400, "domänen saknar punkt"),
    "CR/LF in address": (
        {"email": "offer@example.se\r\nBcc: alla@example.se"},
        400,
        "får inte innehålla radbrytningar",
    ),
    "CR/LF in name": (
        {"email": "namn@example.se", "name": "Namn\r\nBcc: alla@example.se"},
        400,
        "Namnet får inte innehålla radbrytningar",
    ),
    "100 KB field": ({"email": "namn@example.se", "name": "x" * 100_000}, 413, "för långt"),
    "long name": ({"email": "namn@example.se", "name": "x" * 101}, 400, "Namnet är för långt"),
    "missing email": ({"name": "Utan Adress"}, 400, "Fyll i din e-postadress"),
    "empty form": ({}, 400, "Fyll i din e-postadress"),
    "filled honeypot": (
        {"email": "robot@example.se", "webbplats": "https://skrap.example"},
        400,
        "ska lämnas tomt",
    ),
}


@pytest.mark.parametrize("form, status, message", BAD.values(), ids=BAD.keys())
def test_bad_input_gets_a_swedish_error_and_stores_nothing(service, smtp, form, status, message):
    before, mails = service.count(), len(smtp.inbox.messages)
    response = httpx.post(service.url + "/", data=form, headers=client_ip(next(_ips)), timeout=10)
    assert response.status_code == status
    assert message in response.text
    assert '<html lang="sv"' in response.text
    time.sleep(0.2)
    assert service.count() == before
    assert len(smtp.inbox.messages) == mails


def test_a_flood_from_one_address_is_rate_limited(service, smtp):
    before = service.count()
    headers = {"X-Forwarded-For": "192.0.2.77"}
    answers = [
        httpx.post(
            service.url + "/", data={"email": f"flod{i}@example.se"}, headers=headers, timeout=10
        )
        for i in range(7)
    ]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    assert "För många anmälningar" in answers[-1].text
    assert answers[-1].headers["Retry-After"] == "3600"
    assert service.count() == before + 5
    other = signup(service, "annan.anslutning@example.se")  # another client is not held up
    assert other.status_code == 200


# --- unsubscribe -----------------------------------------------------------------------------


def test_one_click_unsubscribe_from_a_received_message(service, smtp):
    address = "ett.klick@example.se"
    subscribe(service, smtp, address)
    result = send_subscribers(service.tree)
    assert result.returncode == 0, result.stderr
    (issue,) = [m for m in smtp.inbox.to(address) if "Bekräfta" not in m["Subject"]]
    url = unsubscribe_header(issue)
    assert url.startswith(f"{service.url}/avsluta/") and "@" not in url and "?" not in url
    plain = issue.get_body(("plain",)).get_content()
    assert url in plain and f"{service.url}/integritet" in plain
    assert url in issue.get_body(("html",)).get_content()
    look = httpx.get(url, timeout=10)
    assert look.status_code == 200 and "Avsluta prenumeration" in look.text
    assert service.status(address) == "active"  # a GET changes nothing
    answer = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 200
    assert "location" not in answer.headers and "set-cookie" not in answer.headers
    assert service.status(address) == "unsubscribed"
    db = service.db()
    how = db.execute(
        "SELECT how FROM events JOIN subscribers ON id = subscriber "
        "WHERE address = ? AND action = 'avregistrering'",
        (address,),
    ).fetchall()
    db.close()
    assert how == [("ett klick i e-postprogrammet (RFC 8058)",)]
    received = len(smtp.inbox.to(address))
    again = send_subscribers(service.tree)
    assert again.returncode == 0, again.stderr
    assert len(smtp.inbox.to(address)) == received


def _token_of(service: Service, address: str, purpose: str = "unsubscribe") -> str:
    from nyhetsbrev.subscriptions import tokens

    db = service.db()
    (subscriber,) = db.execute(
        "SELECT id FROM subscribers WHERE address = ?", (address,)
    ).fetchone()
    db.close()
    return tokens.make(SECRET.encode(), purpose, subscriber)


def test_forged_altered_and_other_purpose_tokens_are_refused(service, smtp):
    from nyhetsbrev.subscriptions import tokens

    address = "forsiktig@example.se"
    subscribe(service, smtp, address)
    genuine = _token_of(service, address)
    db = service.db()
    (subscriber,) = db.execute(
        "SELECT id FROM subscribers WHERE address = ?", (address,)
    ).fetchone()
    db.close()
    altered = genuine[:-5] + ("A" if genuine[-5] != "A" else "B") + genuine[-4:]
    forged = [
        altered,
        genuine[:-1],
        "x" * 64,
        tokens.make(b"en-annan-hemlighet-som-ocksa-ar-32-byte", "unsubscribe", subscriber),
        tokens.make(SECRET.encode(), "confirm", subscriber),  # another purpose
        tokens.make(SECRET.encode(), "confirm", subscriber, "0" * 32),
    ]
    for token in forged:
        for method in ("GET", "POST"):
            answer = httpx.request(
                method,
                f"{service.url}/avsluta/{token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=10,
            )
            assert answer.status_code in (400, 404), (token, method)
        answer = httpx.post(
            f"{service.url}/bekrafta/{genuine}", timeout=10
        )  # unsubscribe as confirm
        assert answer.status_code == 400
    assert service.status(address) == "active"


def test_the_unsubscribe_page_offers_to_undo(service, smtp):
    address = "angrar.sig@example.se"
    subscribe(service, smtp, address)
    url = f"{service.url}/avsluta/{_token_of(service, address)}"
    done = httpx.post(url, timeout=10)
    assert done.status_code == 200 and "Prenumerationen är avslutad" in done.text
    assert service.status(address) == "unsubscribed"
    assert "Ångra och prenumerera igen" in done.text
    mails = len(smtp.inbox.to(address))
    undo = httpx.post(
        service.url + "/", data={"email": address, "name": ""}, headers=client_ip(next(_ips))
    )
    assert undo.status_code == 200
    assert service.status(address) == "unsubscribed"  # until the new confirmation
    mail = smtp.inbox.wait_for(address, mails + 1)[-1]
    assert httpx.post(link(mail, "bekrafta"), timeout=10).status_code == 200
    assert service.status(address) == "active"


def test_privacy_notice_comes_from_newsletter_toml_and_is_linked(service):
    page = httpx.get(service.url + "/integritet", timeout=10)
    assert page.status_code == 200
    for text in (
        "Länsstyrelsen i Testlän",
        "dataskydd@example.se",
        "länsstyrelsens uppdrag att samordna arbetet i länet",
        "obekräftade anmälningar i en vecka",
    ):
        assert text in page.text
    form = httpx.get(service.url + "/", timeout=10).text
    assert f'href="{service.url}/integritet"' in form
    assert 'name="webbplats"' in form and 'class="hp"' in form


def test_pages_never_set_cookies_and_keep_tokens_from_referrers(service):
    page = httpx.get(service.url + "/", timeout=10)
    assert "set-cookie" not in page.headers
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


# --- load and crashes ------------------------------------------------------------------------


def test_200_concurrent_signups_and_unsubscribes_lose_none_and_duplicate_none(service, smtp):
    from concurrent.futures import ThreadPoolExecutor

    leaving = [f"lamnar{i:03d}@example.se" for i in range(200)]
    joining = [f"kommer{i:03d}@example.se" for i in range(200)]
    listed = service.tree / "samtidiga.csv"
    listed.write_text("email\n" + "\n".join(leaving) + "\n", "utf-8")
    imported = cli(service.tree, "subscribers", "import", str(listed))
    assert imported.returncode == 0, imported.stderr
    urls = [f"{service.url}/avsluta/{_token_of(service, a)}" for a in leaving]
    before = service.count()
    jobs = [("signup", a) for a in joining] + [("unsubscribe", u) for u in urls]
    import random

    random.Random(7).shuffle(jobs)

    limits = httpx.Limits(max_connections=50, max_keepalive_connections=0)
    client = httpx.Client(timeout=60, limits=limits)  # a new connection per request

    def one(job: tuple[str, str]) -> int:
        kind, what = job
        if kind == "signup":
            return client.post(
                service.url + "/", data={"email": what}, headers=client_ip(next(_ips))
            ).status_code
        return client.post(what, content=b"List-Unsubscribe=One-Click").status_code

    with client, ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, jobs))
    assert answers == [200] * 400
    assert service.count() == before + 200
    db = service.db()
    rows = dict(
        db.execute(
            "SELECT address, status FROM subscribers WHERE address LIKE 'kommer%' "
            "OR address LIKE 'lamnar%'"
        ).fetchall()
    )
    events = dict(
        db.execute(
            "SELECT address, COUNT(*) FROM events JOIN subscribers ON id = subscriber "
            "WHERE action IN ('anmälan', 'avregistrering') AND "
            "(address LIKE 'kommer%' OR address LIKE 'lamnar%') GROUP BY address"
        ).fetchall()
    )
    db.close()
    assert rows == {**dict.fromkeys(joining, "pending"), **dict.fromkeys(leaving, "unsubscribed")}
    assert set(events.values()) == {1} and len(events) == 400
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and service.count("outbox"):
        time.sleep(0.1)
    counts = collections.Counter(r for r, _ in smtp.inbox.messages)
    assert [counts[a] for a in joining] == [1] * 200
    assert not any(counts[a] for a in leaving)


def test_sigkill_in_the_middle_of_a_burst_leaves_a_consistent_register(tmp_path, smtp):
    import shutil
    import threading
    from concurrent.futures import ThreadPoolExecutor

    tree = tmp_path / "innehall"
    shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    port = free_port()
    configure(tree, smtp.port, port, per_ip=0)
    running = Service(tree, port, tmp_path / "tjanst.log").start()
    addresses = [f"krasch{i:03d}@example.se" for i in range(300)]
    accepted: list[str] = []
    killed = threading.Event()

    def one(address: str) -> None:
        if killed.is_set():
            return
        try:
            answer = client.post(running.url + "/", data={"email": address})
        except httpx.HTTPError:
            return
        if answer.status_code == 200:
            accepted.append(address)
            if len(accepted) == 60:
                running.kill(signal.SIGKILL)
                killed.set()

    limits = httpx.Limits(max_connections=20, max_keepalive_connections=0)
    client = httpx.Client(timeout=10, limits=limits)
    try:
        with client, ThreadPoolExecutor(max_workers=20) as pool:
            list(pool.map(one, addresses))
        assert killed.is_set() and running.process.returncode == -signal.SIGKILL
        db = running.db()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {
            a: (status, mailed, nonce)
            for a, status, mailed, nonce in db.execute(
                "SELECT address, status, mailed, nonce FROM subscribers"
            )
        }
        signups = collections.Counter(
            a
            for (a,) in db.execute(
                "SELECT address FROM events JOIN subscribers ON id = subscriber "
                "WHERE action = 'anmälan'"
            )
        )
        queued = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        db.close()
        # Every answered sign-up is there whole; nothing is there in part.
        assert set(accepted) <= set(stored)
        assert set(signups) == set(stored) and set(signups.values()) == {1}
        assert all(s == ("pending",) + s[1:] and s[1] and s[2] for s in stored.values())
        assert len(stored) < len(addresses)
        # After a restart every queued confirmation goes out.
        mailed_before = collections.Counter(r for r, _ in smtp.inbox.messages)
        running.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and running.count("outbox"):
            time.sleep(0.1)
        assert running.count("outbox") == 0
        got = collections.Counter(r for r, _ in smtp.inbox.messages)
        assert all(got[a] >= 1 for a in stored), (queued, mailed_before)
    finally:
        running.kill()


# --- sending from the register -----------------------------------------------------------


def test_an_unsubscribe_during_a_send_is_honoured_for_every_message_not_yet_sent(service, smtp):
    group = [f"utskick{i:02d}@example.se" for i in range(12)]
    listed = service.tree / "utskick.csv"
    listed.write_text("email\n" + "\n".join(group) + "\n", "utf-8")
    assert cli(service.tree, "subscribers", "import", str(listed)).returncode == 0
    last = group[-1]
    url = f"{service.url}/avsluta/{_token_of(service, last)}"
    clicked = []

    def click_when_first_arrives(rcpt: str) -> None:
        if rcpt == group[0] and not clicked:
            clicked.append(httpx.post(url, content=b"List-Unsubscribe=One-Click").status_code)

    smtp.inbox.hook = click_when_first_arrives
    try:
        result = send_subscribers(service.tree)
    finally:
        smtp.inbox.hook = None
    assert result.returncode == 0, result.stderr
    assert clicked == [200]
    assert all(smtp.inbox.to(a) for a in group[:-1])
    assert smtp.inbox.to(last) == []


def test_list_send_imports_the_file_and_gives_working_unsubscribe_links(service, smtp):
    listed = service.tree / "lista.csv"
    listed.write_text("email;name\nfran.listan@example.se;Lista Person\n", "utf-8")
    ready_again(service.tree)
    result = send(service.tree, "--list", listed, "--retry-wait", "0.01")
    assert result.returncode == 0, result.stderr
    (msg,) = smtp.inbox.to("fran.listan@example.se")
    db = service.db()
    source = db.execute(
        "SELECT source FROM subscribers WHERE address = 'fran.listan@example.se'"
    ).fetchone()
    db.close()
    assert source == (f"fil {listed.as_posix()}",)
    url = unsubscribe_header(msg)
    assert httpx.post(url, content=b"List-Unsubscribe=One-Click").status_code == 200
    assert service.status("fran.listan@example.se") == "unsubscribed"
    ready_again(service.tree)
    again = send(service.tree, "--list", listed, "--dry-run")
    assert "1 avregistrerad får inget" in again.stdout, again.stdout + again.stderr


def test_a_secret_under_32_bytes_is_refused(service):
    result = cli(service.tree, "subscribers", "erase", "vem@example.se", secret="kort-hemlighet")
    assert result.returncode == 1
    assert result.stderr == (
        "NYHETSBREV_UNSUBSCRIBE_SECRET är för kort (14 byte); den ska vara minst 32 "
        "byte, t.ex. från `openssl rand -base64 48`\n"
    )


# --- the authority's duties ------------------------------------------------------------------


def test_extract_lists_everything_and_erase_leaves_nothing_readable(service, smtp):
    address = "rattigheter@example.se"
    assert signup(service, address, "Rut Rättighet").status_code == 200
    mail = smtp.inbox.wait_for(address)[-1]
    assert httpx.post(link(mail, "bekrafta")).status_code == 200
    assert send_subscribers(service.tree).returncode == 0
    (issue,) = [m for m in smtp.inbox.to(address) if "Bekräfta" not in m["Subject"]]
    assert httpx.post(unsubscribe_header(issue), content=b"List-Unsubscribe=One-Click").is_success

    shown = cli(service.tree, "subscribers", "show", "Rattigheter@Example.se")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith(f"Registerutdrag för {address}\n  namn: Rut Rättighet\n")
    assert "  status: unsubscribed\n  källa: formulär\n" in out
    for line in (
        r"anmälan via formuläret \(informationstext version [0-9a-f]{12}\)",
        r"bekräftelse via knappen på bekräftelsesidan",
        r"avregistrering via ett klick i e-postprogrammet \(RFC 8058\)",
        r"Informationstext version [0-9a-f]{12}: Vi använder din e-postadress",
        r"  2022-10: sent \S+ \(1 försök, svar: 250 2\.0\.0 Ok, Message-ID <2022\.2022-10\.",
    ):
        assert re.search(line, out), (line, out)

    erased = cli(service.tree, "subscribers", "erase", address)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.startswith(f"{address} är raderad: uppgifterna i prenumerantregistret")
    assert "nyckelad kontrollsumma" in erased.stdout
    # Nothing readable is left: not in the register, the ledger or the service's log.
    leftovers = [
        p
        for p in [*service.tree.joinpath(".nyhetsbrev").iterdir(), service.log]
        if p.is_file() and (address.encode() in p.read_bytes() or b"Rut R" in p.read_bytes())
    ]
    assert leftovers == []
    gone = cli(service.tree, "subscribers", "show", address)
    assert gone.stdout == f"{address}: finns inte i registret eller i utskicksliggaren\n"
    ledger = sqlite3.connect(service.tree / ".nyhetsbrev" / "sends.sqlite")
    states = [
        r[0] for r in ledger.execute("SELECT state FROM sends WHERE address LIKE 'raderad-%'")
    ]
    ledger.close()
    assert states == ["sent"]  # the issue's count in the year's report still holds

    listed = service.tree / "aterimport.csv"
    listed.write_text(f"email\n{address}\nannan.person@example.se\n", "utf-8")
    again = cli(service.tree, "subscribers", "import", str(listed))
    assert again.returncode == 0
    assert again.stderr == (
        f'{listed.as_posix()}:2: "{address}" har raderats ur registret på begäran och '
        "importeras inte igen; ta bort raden ur filen (vill personen ha nyhetsbrevet får den "
        "anmäla sig själv)\n"
    )
    assert service.status(address) is None
    assert service.status("annan.person@example.se") == "active"


def test_an_unknown_page_and_a_wrong_method_answer_in_swedish(service):
    missing = httpx.get(service.url + "/finns-inte", timeout=10)
    assert missing.status_code == 404 and "<h1>Sidan finns inte</h1>" in missing.text
    wrong = httpx.put(service.url + "/integritet", timeout=10)
    assert wrong.status_code == 405 and "<h1>Det går inte</h1>" in wrong.text


def test_a_test_send_carries_no_address_in_any_link(service, smtp):
    """With the service set up, a test message links the register, never `email=` in clear."""
    listed = service.tree / "testare.csv"
    listed.write_text("email;name\nsamordnare@example.se;Samordnare\n", "utf-8")
    imported = cli(service.tree, "subscribers", "import", listed)
    assert imported.returncode == 0, imported.stderr
    result = send(service.tree, "--to", "samordnare@example.se", "--to", "kollega@example.se")
    assert result.returncode == 0, result.stderr
    for address in ("samordnare@example.se", "kollega@example.se"):
        (msg,) = [m for m in smtp.inbox.to(address) if m["Subject"].startswith("[TEST] ")]
        url = unsubscribe_header(msg)
        assert "email=" not in url and address.split("@")[0] not in url, url
        assert url.startswith(service.url)
        text = msg.get_body(("plain",)).get_content()
        assert url in text  # the footer link is the same
    (mine,) = smtp.inbox.to("samordnare@example.se")
    assert "/avsluta/" in unsubscribe_header(mine)  # a subscriber can try their own link
    assert httpx.get(unsubscribe_header(mine)).status_code == 200
