"""`bounces`: returned mail from a Maildir, an mbox and IMAP lands on its ledger row.

The returned messages in fixtures/returned/ are written by hand in the formats real servers
use: Postfix DSNs (a hard 5.1.1 and a soft 4.2.2), a Microsoft Exchange report without a
machine-readable part, Gmail's DSN, an ARF complaint, an out-of-office reply and an unrelated
message. Their return-path tokens and Message-IDs are the ones `send` gives issue 2022-10's
recipients, so a real list send to aiosmtpd comes first.
"""

from __future__ import annotations

import hashlib
import hmac
import mailbox
import shutil
import sqlite3
from pathlib import Path

import pytest

from nyhetsbrev.delivery import bounces

from .conftest import FIXTURES
from .smtp import SECRET, Server, free_port, point
from .test_send import ISSUE, send_list
from .test_service import configure

RETURNED = FIXTURES / "returned"
PEOPLE = ("hard", "soft", "outlook", "gmail", "klagar", "borta", "nojd")


def add_bounces(tree: Path, extra: str = "") -> None:
    toml = tree / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8") + f'\n[bounces]\naddress = "studs@example.se"\n{extra}', "utf-8"
    )


@pytest.fixture
def server():
    s = Server()
    s.handler.envelopes = []  # (recipient, MAIL FROM) of each accepted message
    data = s.handler.handle_DATA

    async def keep_envelope(server, session, envelope):
        s.handler.envelopes += [(rcpt, envelope.mail_from) for rcpt in envelope.rcpt_tos]
        return await data(server, session, envelope)

    s.handler.handle_DATA = keep_envelope
    yield s
    s.stop()


@pytest.fixture
def sent(tree: Path, server: Server, run, monkeypatch) -> Path:
    """The tree after issue 2022-10 went to seven subscribers through the register."""
    configure(tree, server.port, 8000)
    add_bounces(tree, "soft_limit = 2\nsoft_days = 30\n")
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    listed = tree / "lista.csv"
    listed.write_text(
        "email,name\n" + "".join(f"{p}@kommun.example.se,\n" for p in PEOPLE), "utf-8"
    )
    result = send_list(run, tree, listed)
    assert result.exit_code == 0, result.output
    return tree


def maildir(tmp_path: Path, names: list[str]) -> Path:
    """Return a Maildir holding the named fixtures, the first half new, the rest read."""
    path = tmp_path / "Studsar"
    box = mailbox.Maildir(path, create=True)
    for i, name in enumerate(names):
        message = mailbox.MaildirMessage((RETURNED / name).read_bytes())
        if i >= len(names) // 2:
            message.set_subdir("cur")
            message.add_flag("S")
        box.add(message)
    return path


def snapshot(path: Path) -> dict[str, str]:
    """Return every file under path with a hash of its bytes."""
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def register_status(tree: Path) -> dict[str, str]:
    db = sqlite3.connect(tree / ".nyhetsbrev" / "subscribers.sqlite")
    try:
        return {
            a.split("@")[0]: s for a, s in db.execute("SELECT address, status FROM subscribers")
        }
    finally:
        db.close()


def feedback(tree: Path) -> list[tuple[str, str, str, str, str]]:
    db = sqlite3.connect(tree / ".nyhetsbrev" / "sends.sqlite")
    try:
        return list(
            db.execute(
                "SELECT issue, address, kind, status, diagnostic FROM feedback ORDER BY address"
            )
        )
    finally:
        db.close()


ALL = sorted(p.name for p in RETURNED.glob("*.eml"))


def test_send_sets_a_per_recipient_return_path(sent, server):
    senders = {to: mail_from for to, mail_from in server.handler.envelopes}
    assert senders["hard@kommun.example.se"] == "studs+64dc656ae9b902fa659c@example.se"
    assert len(set(senders.values())) == len(PEOPLE)


def test_maildir_lands_each_on_its_row_and_leaves_the_rest_untouched(sent, run, tmp_path):
    box = maildir(tmp_path, ALL)
    before = snapshot(box)
    result = run("bounces", "--root", sent, "--maildir", box)
    assert result.exit_code == 0, result.output
    rows = {(a.split("@")[0], kind, status) for _, a, kind, status, _ in feedback(sent)}
    assert rows == {
        ("hard", "hard", "5.1.1"),
        ("soft", "soft", "4.2.2"),
        ("outlook", "hard", "5.1.1"),  # matched by the Message-ID it quotes
        ("gmail", "hard", "5.1.1"),
        ("klagar", "complaint", ""),
    }
    diagnostics = {a.split("@")[0]: d for _, a, _, _, d in feedback(sent)}
    assert "User unknown in virtual mailbox table" in diagnostics["hard"]
    assert "RESOLVER.ADR.RecipNotFound" in diagnostics["outlook"]
    statuses = register_status(sent)
    assert statuses == {
        "hard": "bounced",
        "outlook": "bounced",
        "gmail": "bounced",
        "soft": "active",  # one soft bounce, under the limit of two
        "klagar": "unsubscribed",
        "borta": "active",  # the out-of-office reply changes nothing
        "nojd": "active",
        "avregistrerad": "unsubscribed",  # from the old suppression list
    }
    assert snapshot(box) == before  # nothing moved, flagged or deleted
    assert "Läste 7 brev: 3 nya hårda studsar, 1 ny tillfällig studs, 1 nytt klagomål" in (
        result.output
    )
    assert "2 lämnades orörda" in result.output
    assert f"{ISSUE}: hard@kommun.example.se: hård studs (5.1.1, smtp; 550 5.1.1" in result.output

    again = run("bounces", "--root", sent, "--maildir", box)
    assert again.exit_code == 0, again.output
    assert "0 nya hårda studsar, 0 nya tillfälliga studsar, 0 nya klagomål, 5 redan inlästa" in (
        again.output
    )
    assert len(feedback(sent)) == 5
    assert register_status(sent) == statuses
    assert snapshot(box) == before


def test_mbox_gives_the_same_and_soft_bounces_mark_after_the_limit(sent, run, tmp_path):
    path = tmp_path / "studsar.mbox"
    box = mailbox.mbox(path, create=True)
    for name in ALL:
        box.add((RETURNED / name).read_bytes())
    # a second soft bounce for the same recipient, another day (its own Message-ID)
    second = (RETURNED / "02-soft-4.2.2.eml").read_bytes()
    box.add(second.replace(b"20221019060340.7B11AC0456", b"20221021060340.9C22BD0789"))
    box.close()
    before = path.read_bytes()
    result = run("bounces", "--root", sent, "--mbox", path)
    assert result.exit_code == 0, result.output
    assert register_status(sent)["soft"] == "bounced"
    assert (
        "soft@kommun.example.se: tillfällig studs (4.2.2, smtp; 452 4.2.2 Mailbox full), "
        "markerad som studsad" in result.output
    )
    assert register_status(sent)["klagar"] == "unsubscribed"
    assert path.read_bytes() == before
    again = run("bounces", "--root", sent, "--mbox", path)
    assert "6 redan inlästa" in again.output


def test_a_complaint_does_not_resubscribe_or_rebounce(sent, run, tmp_path):
    """An unsubscribed address stays unsubscribed when a bounce comes in for it later."""
    first = run("bounces", "--root", sent, "--maildir", maildir(tmp_path, ["05-arf-complaint.eml"]))
    assert first.exit_code == 0, first.output
    assert "klagar@kommun.example.se: klagomål (feedback-type: abuse), avregistrerad" in (
        first.output
    )


def test_a_bounce_for_an_unknown_send_is_left_alone(sent, run, tmp_path):
    other = tmp_path / "andra"
    shutil.copytree(sent, other)
    db = sqlite3.connect(other / ".nyhetsbrev" / "sends.sqlite")
    db.execute("DELETE FROM sends WHERE address = 'hard@kommun.example.se'")
    db.commit()
    db.close()
    result = run("bounces", "--root", other, "--maildir", maildir(tmp_path, ["01-hard-5.1.1.eml"]))
    assert result.exit_code == 0, result.output
    assert "men inget utskick i utskicksregistret passar; lämnad orörd" in result.output
    assert register_status(other)["hard"] == "active"


def test_missing_sources_are_swedish_errors(sent, run, tmp_path):
    result = run("bounces", "--root", sent, "--maildir", tmp_path / "finns-inte")
    assert result.exit_code == 1
    assert "ingen Maildir-mapp (den ska ha undermapparna cur och new)" in result.stderr
    result = run("bounces", "--root", sent, "--mbox", tmp_path / "finns-inte.mbox")
    assert result.exit_code == 1
    assert "finns-inte.mbox: filen finns inte" in result.stderr
    result = run("bounces", "--root", sent, "--maildir", tmp_path, "--mbox", tmp_path / "x")
    assert result.exit_code == 2
    assert "ange högst en av --maildir MAPP och --mbox FIL" in result.stderr


def test_imap_without_host_or_password_is_a_swedish_error(sent, run, monkeypatch):
    monkeypatch.delenv("NYHETSBREV_BOUNCES_PASSWORD", raising=False)
    result = run("bounces", "--root", sent)
    assert result.exit_code == 1
    assert "[bounces] host saknas" in result.stderr


def test_the_auto_reply_and_the_unrelated_message_are_not_bounces():
    for name in ("06-auto-reply.eml", "07-unrelated.eml"):
        assert bounces.classify(bounces.parse((RETURNED / name).read_bytes())) == []


def test_status_shows_delivered_bounced_complained_and_unsubscribed(sent, run, tmp_path):
    from nyhetsbrev.subscriptions.register import Register

    with Register(sent / ".nyhetsbrev" / "subscribers.sqlite") as book:
        found = book.find("nojd@kommun.example.se")
        assert found is not None
        book.unsubscribe(found.id, "länken i brevet")
    before = run("send", ISSUE, "--root", sent, "--status")
    assert before.stdout.splitlines()[-1] == (
        "efter utskicket: 7 levererade, 0 studsade, 0 klagomål, 1 avregistrerad"
    )
    result = run("bounces", "--root", sent, "--maildir", maildir(tmp_path, ALL))
    assert result.exit_code == 0, result.output
    status = run("send", ISSUE, "--root", sent, "--status")
    assert status.stdout.splitlines()[-1] == (
        "efter utskicket: 4 levererade, 3 studsade (1 till med tillfälliga studsar), "
        "1 klagomål, 1 avregistrerad"
    )


def test_the_year_report_shows_each_issue_after_the_send(sent, run, tmp_path):
    result = run("bounces", "--root", sent, "--maildir", maildir(tmp_path, ALL))
    assert result.exit_code == 0, result.output
    text = run("report", "2022", "--format", "md", "--root", sent).stdout
    section = text.split("## Efter utskicket", 1)[1].split("\n## ", 1)[0]
    assert "| Nummer | Skickade | Levererade | Studsade | Klagomål | Avregistrerade |" in section
    row = next(line for line in section.splitlines() if "oktober" in line.lower())
    assert [cell.strip() for cell in row.strip("|").split("|")][1:] == ["7", "4", "3", "1", "0"]
    out = tmp_path / "rapport.html"
    run("report", "2022", "--format", "html", "--out", out, "--root", sent)
    page = out.read_text("utf-8")
    assert "Efter utskicket: studsar, klagomål och avregistreringar per nummer" in page


# --- IMAP against Debian's Dovecot on 127.0.0.1 ----------------------------------------------

DOVECOT = Path("/usr/sbin/dovecot")
IMAP_PASSWORD = "Studs-lösen-4711"  # not ASCII: goes as AUTHENTICATE PLAIN in UTF-8


class Dovecot:
    """A throwaway Dovecot (IMAP only, no TLS) with one user, listening on 127.0.0.1."""

    def __init__(self, port: int):
        import os
        import pwd
        import subprocess
        import tempfile
        import time

        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="nyhetsbrev-dovecot-"))
        self.folder.chmod(0o755)
        owner = pwd.getpwnam("dovecot")  # the mail is owned by an unprivileged user
        self.mail = self.folder / "mail" / "studs"
        self.mail.parent.mkdir()
        self.box = mailbox.Maildir(self.mail, create=True)
        (self.folder / "users").write_text(f"studs:{{PLAIN}}{IMAP_PASSWORD}\n", "utf-8")
        config = self.folder / "dovecot.conf"
        config.write_text(
            f"""base_dir = {self.folder}/run
state_dir = {self.folder}/state
instance_name = nyhetsbrev-test-{port}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.folder}/dovecot.log
mail_location = maildir:{self.folder}/mail/%u
first_valid_uid = {owner.pw_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.folder}/users
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={self.folder}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""",
            "utf-8",
        )
        self.owner = owner
        self.process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()) from None  # type: ignore[union-attr]
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("dovecot did not start")
        os.sync()

    def deliver(self, names: list[str]) -> None:
        import os

        for name in names:
            self.box.add((RETURNED / name).read_bytes())
        for path in [self.mail, *self.mail.rglob("*")]:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)
        os.chown(self.mail.parent, self.owner.pw_uid, self.owner.pw_gid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def dovecot():
    import os

    if not DOVECOT.exists() or os.geteuid() != 0:
        pytest.skip("Debian's dovecot-imapd is not installed or not root: scripts/ensure-dovecot")

    server = Dovecot(free_port())
    yield server
    server.stop()


def test_imap_reads_the_mailbox_and_changes_nothing_in_it(sent, run, dovecot, monkeypatch):
    import imaplib

    dovecot.deliver(ALL)
    toml = sent / "newsletter.toml"
    toml.write_text(
        toml.read_text("utf-8")
        + f'host = "127.0.0.1"\nport = {dovecot.port}\nsecurity = "none"\nuser = "studs"\n',
        "utf-8",
    )
    monkeypatch.setenv("NYHETSBREV_BOUNCES_PASSWORD", IMAP_PASSWORD)
    result = run("bounces", "--root", sent)
    assert result.exit_code == 0, result.output
    assert "Läste 7 brev: 3 nya hårda studsar, 1 ny tillfällig studs, 1 nytt klagomål" in (
        result.output
    )
    assert register_status(sent)["hard"] == "bounced"
    again = run("bounces", "--root", sent)
    assert "5 redan inlästa" in again.output
    client = imaplib.IMAP4("127.0.0.1", dovecot.port)
    client.authenticate("PLAIN", lambda _: f"\0studs\0{IMAP_PASSWORD}".encode())
    client.select("INBOX", readonly=True)
    assert len(client.search(None, "ALL")[1][0].split()) == 7
    assert client.search(None, "SEEN")[1][0] == b""  # read with PEEK: still unread
    client.logout()

    toml.write_text(toml.read_text("utf-8") + 'mailbox = "Saknas"\n', "utf-8")
    missing = run("bounces", "--root", sent)
    assert missing.exit_code == 1
    assert 'brevlådan "Saknas" finns inte; kontrollera [bounces] mailbox' in missing.stderr

    monkeypatch.setenv("NYHETSBREV_BOUNCES_PASSWORD", "fel")
    refused = run("bounces", "--root", sent)
    assert refused.exit_code == 1
    assert 'inloggningen som "studs" nekades' in refused.stderr


def test_without_a_register_bounces_and_complaints_go_to_the_suppression_list(
    tree, server, run, monkeypatch, tmp_path
):
    """A list send without [subscriptions] honours suppression.csv: bounces are added there."""

    point(tree, server.port)
    add_bounces(tree)
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    listed = tree / "lista.csv"
    listed.write_text(
        "email,name\n" + "".join(f"{p}@kommun.example.se,\n" for p in PEOPLE), "utf-8"
    )
    assert send_list(run, tree, listed).exit_code == 0
    suppression = tree / "suppression.csv"
    suppression.write_bytes(b"\xef\xbb\xbfemail;namn\r\navregistrerad@example.se;Gammal\r\n")
    box = maildir(tmp_path, ALL)
    result = run("bounces", "--root", tree, "--maildir", box)
    assert result.exit_code == 0, result.output
    assert "hard@kommun.example.se: hård studs (5.1.1" in result.output
    assert "tillagd i avregistreringslistan" in result.output
    head, *added = suppression.read_bytes().split(b"\r\n")[1:]
    assert suppression.read_bytes().startswith(b"\xef\xbb\xbfemail;namn\r\n")
    assert head == b"avregistrerad@example.se;Gammal"
    assert sorted(added) == [
        b"",
        b"gmail@kommun.example.se;",
        b"hard@kommun.example.se;",
        b"klagar@kommun.example.se;",
        b"outlook@kommun.example.se;",
    ]
    assert run("bounces", "--root", tree, "--maildir", box).exit_code == 0
    assert suppression.read_bytes().count(b"hard@") == 1
    from nyhetsbrev.subscriptions.recipients import read_suppression

    assert "klagar@kommun.example.se" in read_suppression(suppression, "suppression.csv")


@pytest.mark.parametrize(
    "settings,marker,message",
    [
        (
            '[bounces]\naddress = "studs+x@example.se"\n',
            "address =",
            '[bounces] address "studs+x@example.se" ska vara en vanlig e-postadress utan "+"',
        ),
        (
            '[bounces]\naddress = "studs@example.se"\nsecurity = "ssl"\n',
            "security =",
            '[bounces] security "ssl" måste vara',
        ),
        ('[dkim]\ndomain = "example.se"\n', "[dkim]", "[dkim] selector saknas"),
    ],
)
def test_bounces_and_dkim_settings_are_checked_with_their_lines(
    tree, run, settings, marker, message
):
    toml = tree / "newsletter.toml"
    text = toml.read_text("utf-8").rstrip("\n") + "\n\n" + settings
    toml.write_text(text, "utf-8")
    lines = text.split("\n")
    line = max(n for n, raw in enumerate(lines, 1) if raw.startswith(marker))
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    assert f"newsletter.toml:{line}: {message}" in result.stderr, result.stderr


def test_imap_settings_are_refused_before_connecting(sent, run, monkeypatch):

    toml = sent / "newsletter.toml"
    base = toml.read_text("utf-8")
    monkeypatch.delenv("NYHETSBREV_BOUNCES_PASSWORD", raising=False)
    toml.write_text(base + 'host = "127.0.0.1"\nuser = "studs"\n', "utf-8")
    result = run("bounces", "--root", sent)
    assert result.exit_code == 1
    assert "miljövariabeln NYHETSBREV_BOUNCES_PASSWORD är inte satt" in result.stderr
    monkeypatch.setenv("NYHETSBREV_BOUNCES_PASSWORD", "hemligt")
    toml.write_text(base + 'host = "imap.example.se"\nsecurity = "none"\nuser = "s"\n', "utf-8")
    result = run("bounces", "--root", sent)
    assert result.exit_code == 1
    assert 'security = "none" skulle skicka lösenordet okrypterat till imap.example.se' in (
        result.stderr
    )
    port = free_port()
    toml.write_text(base + f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n', "utf-8")
    result = run("bounces", "--root", sent)
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}: kunde inte ansluta till IMAP-servern" in result.stderr


def test_register_extract_shows_returned_mail_and_erasure_removes_the_address(sent, run, tmp_path):
    assert run("bounces", "--root", sent, "--maildir", maildir(tmp_path, ALL)).exit_code == 0
    shown = run("subscribers", "show", "hard@kommun.example.se", "--root", sent)
    assert shown.exit_code == 0, shown.output
    assert "Studsar och klagomål (tid i UTC):" in shown.stdout
    assert "  2022-10: hård studs " in shown.stdout and "5.1.1, smtp; 550 5.1.1" in shown.stdout
    erased = run("subscribers", "erase", "hard@kommun.example.se", "--root", sent)
    assert erased.exit_code == 0, erased.output
    rows = feedback(sent)
    assert not [r for r in rows if "hard@" in r[1] or "hard@" in r[4]]
    assert sum(r[2] == "hard" for r in rows) == 3  # the figures still hold
    status = run("send", ISSUE, "--root", sent, "--status").stdout.splitlines()[-1]
    assert status.startswith("efter utskicket: 4 levererade, 3 studsade")


def test_purge_removes_returned_mail_older_than_keep_days(sent, run, tmp_path):
    assert run("bounces", "--root", sent, "--maildir", maildir(tmp_path, ALL)).exit_code == 0
    db = sqlite3.connect(sent / ".nyhetsbrev" / "sends.sqlite")
    db.execute("UPDATE feedback SET received = '2020-01-01T00:00:00+00:00' WHERE kind = 'hard'")
    db.commit()
    db.close()
    assert run("subscribers", "purge", "--root", sent).exit_code == 0
    assert {r[2] for r in feedback(sent)} == {"soft", "complaint"}


def test_a_forged_bounce_without_the_secret_marks_nobody(sent, run, tmp_path):
    """Message-IDs and return-path tokens are keyed with the unsubscribe secret: a DSN made
    with the unkeyed digest of an issue and address (all a stranger can compute) is ignored."""
    data = b"2022-10\0nojd@kommun.example.se"
    guess = hashlib.sha256(data).hexdigest()[:20]
    forged = (RETURNED / "01-hard-5.1.1.eml").read_text("utf-8")
    hard = hmac.new(SECRET.encode(), b"2022-10\0hard@kommun.example.se", hashlib.sha256)
    forged = forged.replace(hard.hexdigest()[:20], guess)
    forged = forged.replace("hard@kommun.example.se", "nojd@kommun.example.se")
    box = tmp_path / "forged.mbox"
    box.write_text("From MAILER-DAEMON Mon Oct 17 06:01:12 2022\n" + forged, "utf-8")
    result = run("bounces", "--mbox", box, "--root", sent)
    assert result.exit_code == 0, result.output
    assert register_status(sent)["nojd"] == "active"
    assert feedback(sent) == []
