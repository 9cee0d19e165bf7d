"""The register and the tokens on their own, and the `subscribers` commands that need no service."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from pathlib import Path

import pytest

from nyhetsbrev.subscriptions import register as reg
from nyhetsbrev.subscriptions import tokens

from .conftest import without_section
from .test_service import SECRET, configure

KEY = SECRET.encode()


@pytest.fixture
def book(tmp_path: Path):
    opened = reg.Register(tmp_path / "prenumeranter.sqlite")
    yield opened
    opened.close()


@pytest.fixture
def site(tree: Path, monkeypatch) -> Path:
    configure(tree, 2525, 8000)
    monkeypatch.setenv("NYHETSBREV_UNSUBSCRIBE_SECRET", SECRET)
    return tree


# --- tokens ----------------------------------------------------------------------------------


def test_a_token_is_opaque_url_safe_and_bound_to_subscriber_and_purpose():
    subscriber = "0123456789abcdef0123456789abcdef"
    token = tokens.make(KEY, tokens.UNSUBSCRIBE, subscriber)
    assert len(token) == 64 and all(c.isalnum() or c in "-_" for c in token)
    assert tokens.verify(KEY, token, tokens.UNSUBSCRIBE) == subscriber
    assert tokens.verify(KEY, token, tokens.CONFIRM) is None
    assert tokens.verify(b"x" * 32, token, tokens.UNSUBSCRIBE) is None
    confirm = tokens.make(KEY, tokens.CONFIRM, subscriber, "aa" * 16)
    assert tokens.verify(KEY, confirm, tokens.CONFIRM, "aa" * 16) == subscriber
    assert tokens.verify(KEY, confirm, tokens.CONFIRM, "bb" * 16) is None
    other = tokens.make(KEY, tokens.UNSUBSCRIBE, "f" * 32)
    assert tokens.verify(KEY, token[:22] + other[22:], tokens.UNSUBSCRIBE) is None


@pytest.mark.parametrize("position", range(64))
def test_changing_any_character_of_a_token_is_refused(position):
    token = tokens.make(KEY, tokens.UNSUBSCRIBE, "0123456789abcdef0123456789abcdef")
    for c in "AQgw-_":
        if token[position] != c:
            altered = token[:position] + c + token[position + 1 :]
            assert tokens.verify(KEY, altered, tokens.UNSUBSCRIBE) is None


@pytest.mark.parametrize(
    "secret, message",
    [
        ("", "NYHETSBREV_UNSUBSCRIBE_SECRET är inte satt"),
        ("a" * 31, "NYHETSBREV_UNSUBSCRIBE_SECRET är för kort (31 byte)"),
    ],
)
def test_a_missing_or_short_secret_is_refused(secret, message):
    with pytest.raises(tokens.SecretError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tokens.check_secret(secret)
    assert tokens.check_secret("å" * 16) == ("å" * 16).encode()  # 32 bytes in UTF-8


# --- the register ----------------------------------------------------------------------------


def test_signup_then_confirm_records_the_evidence(book):
    first = book.signup("a@example.se", "Anna", "v1")
    assert first.mailed
    found = book.get(first.subscriber)
    assert found.status == reg.PENDING and found.nonce
    assert not book.confirm(first.subscriber, "fel", 7)
    assert book.confirm(first.subscriber, found.nonce, 7)
    assert not book.confirm(first.subscriber, found.nonce, 7)  # used
    assert book.get(first.subscriber).status == reg.ACTIVE
    assert [(e.action, e.notice) for e in book.events(first.subscriber)] == [
        ("anmälan", "v1"),
        ("bekräftelse", ""),
    ]


def test_an_expired_signup_cannot_be_confirmed_and_is_purged(book):
    first = book.signup("sen@example.se", "", "v1")
    old = (reg.now() - dt.timedelta(days=8)).isoformat()
    book.db.execute("UPDATE subscribers SET signed_up = ?, created = ?", (old, old))
    assert not book.confirm(first.subscriber, book.get(first.subscriber).nonce, 7)
    assert book.purge(7) == 1
    assert book.get(first.subscriber) is None


def test_a_third_party_signup_does_not_change_an_unsubscribed_address(book):
    added = book.add([("borta@example.se", "")], "fil x.csv", ["h"])
    assert added.added == ["borta@example.se"]
    subscriber = book.find("borta@example.se").id
    book.unsubscribe(subscriber, "avregistreringssidan")
    book.signup("borta@example.se", "Någon Annan", "v1")
    found = book.get(subscriber)
    assert (found.status, found.name) == (reg.UNSUBSCRIBED, "")
    again = book.add([("borta@example.se", "")], "fil y.csv", ["h"])
    assert again.known == ["borta@example.se"]  # an import never resubscribes
    assert book.get(subscriber).status == reg.UNSUBSCRIBED


def test_an_erased_address_is_refused_by_import(book):
    hashed = tokens.keyed_hash(KEY, "raderad@example.se")
    book.add([("raderad@example.se", "")], "fil x.csv", [hashed])
    assert book.erase("raderad@example.se", hashed)
    assert book.find("raderad@example.se") is None
    result = book.add([("raderad@example.se", "")], "fil x.csv", [hashed])
    assert result.refused == ["raderad@example.se"]
    assert book.find("raderad@example.se") is None


def test_a_register_is_in_wal_mode_with_full_sync(book):
    assert book.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert book.db.execute("PRAGMA synchronous").fetchone() == (2,)


# --- commands without the service ------------------------------------------------------------


def test_import_list_and_status_filter(site, run):
    listed = site / "mottagare.csv"
    listed.write_text(
        "email;name\nEtt@Example.se;Ett\ntva@example.se;\ninte-en-adress;X\n", "utf-8"
    )
    result = run("subscribers", "import", listed, "--root", site)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f'{listed}:4: "inte-en-adress" är ingen giltig e-postadress: @ saknas; raden hoppas över\n'
    )
    assert result.stdout == (
        f"Importerade från {listed}: 2 nya, 0 fanns redan (deras status ändras inte), "
        "0 raderade vägrades\n"
    )
    listing = run("subscribers", "list", "--root", site)
    assert listing.stdout == (
        "avregistrerad@example.se\tunsubscribed\t\tavregistreringslistan suppression.csv\n"
        f"ett@example.se\tactive\tEtt\tfil {listed}\n"
        f"tva@example.se\tactive\t\tfil {listed}\n"
    )
    active = run("subscribers", "list", "--status", "unsubscribed", "--root", site)
    assert active.stdout.splitlines() == [
        "avregistrerad@example.se\tunsubscribed\t\tavregistreringslistan suppression.csv"
    ]


def test_export_is_excel_csv_with_formulas_neutralised(site, run, tmp_path):
    listed = site / "mottagare.csv"
    listed.write_text('email,name\nfarlig@example.se,"=HYPERLINK(""x"")"\n', "utf-8")
    assert run("subscribers", "import", listed, "--root", site).exit_code == 0
    out = tmp_path / "register.csv"
    result = run("subscribers", "export", "--out", out, "--root", site)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600  # personal data: its owner's only
    data = out.read_bytes()  # the tool's one CSV convention, as report and plan write it
    assert data.startswith(b'\xef\xbb\xbf"email";"name";"status";"source";"created";')
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    (row,) = [r for r in rows if r[0] == "farlig@example.se"]
    assert row[1:3] == ['\'=HYPERLINK("x")', "active"]


def test_purge_removes_expired_signups_and_old_ledger_rows(site, run):
    book = reg.Register(site / ".nyhetsbrev" / "subscribers.sqlite")
    book.signup("gammal@example.se", "", "v1")
    book.signup("farsk@example.se", "", "v1")
    old = (reg.now() - dt.timedelta(days=9)).isoformat()
    book.db.execute(
        "UPDATE subscribers SET signed_up = ? WHERE address = 'gammal@example.se'", (old,)
    )
    book.close()
    ledger = sqlite3.connect(site / ".nyhetsbrev" / "sends.sqlite")
    ledger.executescript(
        "CREATE TABLE sends (issue, address, state, reply, message_id, attempts, updated);"
        "CREATE TABLE test_sends (issue, address, reply, time);"
        "INSERT INTO sends VALUES ('2020-01', 'x@example.se', 'sent', '', '', 1, '2020-01-10');"
        f"INSERT INTO sends VALUES ('2022-10', 'y@example.se', 'sent', '', '', 1, '{reg.stamp()}');"
    )
    ledger.commit()
    ledger.close()
    result = run("subscribers", "purge", "--root", site)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Rensat: 1 obekräftad anmälan äldre än 7 dagar, 1 rad i utskicksliggaren "
        "äldre än 400 dagar\n"
    )
    listing = run("subscribers", "list", "--root", site).stdout
    assert "gammal@" not in listing and "farsk@example.se\tpending" in listing


def test_subscribers_without_a_subscriptions_table_says_what_to_add(tree, run):
    result = run("subscribers", "list", "--root", tree)
    assert result.exit_code == 1
    assert result.stderr.startswith("newsletter.toml:1: [subscriptions] saknas; lägg till url")


def test_an_erased_address_given_wrongly_is_a_swedish_error(site, run):
    result = run("subscribers", "show", "inte en adress", "--root", site)
    assert result.exit_code == 1
    assert "ingen giltig e-postadress" in result.stderr


def test_subscriptions_settings_are_checked_with_their_lines(tree, run):
    toml = tree / "newsletter.toml"
    text = without_section(toml.read_text("utf-8"), "privacy").rstrip("\n") + "\n"
    first = text.count("\n") + 2  # the line of [subscriptions]
    toml.write_text(
        text
        + '\n[subscriptions]\nurl = "http://nyhetsbrev.example.se/p"\npending_days = 0\n'
        + '\n[privacy]\ncontact = "dataskydd@example.se"\n',
        "utf-8",
    )
    result = run("check", "--root", tree)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert (
        f"newsletter.toml:{first + 1}: [subscriptions] url ska vara en absolut https-adress, "
        'inte "http://nyhetsbrev.example.se/p"' in lines
    )
    assert (
        f"newsletter.toml:{first + 2}: [subscriptions] pending_days ska vara ett heltal större "
        "än noll" in lines
    )
    assert f"newsletter.toml:{first + 4}: [privacy] legal_basis saknas" in lines
    assert f"newsletter.toml:{first + 4}: [privacy] retention saknas" in lines


def test_an_unreadable_register_is_a_swedish_error(site, run):
    (site / ".nyhetsbrev").mkdir(exist_ok=True)
    (site / ".nyhetsbrev" / "subscribers.sqlite").write_bytes(b"inte en databas " * 100)
    result = run("subscribers", "list", "--root", site)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        ".nyhetsbrev/subscribers.sqlite: registret kan inte läsas eller skrivas (filen är "
        "ingen databas)\n"
    )


def test_one_imported_address_is_one_ny_not_one_nya(site, run):
    listed = site / "en.csv"
    listed.write_text("email;name\nen@example.se;En\n", "utf-8")
    result = run("subscribers", "import", listed, "--root", site)
    assert result.stdout == (
        f"Importerade från {listed}: 1 ny, 0 fanns redan (deras status ändras inte), "
        "0 raderade vägrades\n"
    )
