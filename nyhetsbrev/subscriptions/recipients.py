"""Recipient lists and the suppression list (CSV), and personal unsubscribe links.

Addresses are checked for syntax only (no DNS lookups) and keyed by their lower-cased ASCII
form (an internationalised domain in punycode), the same key the ledger, the suppression
list and the unsubscribe token use.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from nyhetsbrev.errors import LINE_BREAKS, ContentError, Problem, did_you_mean

# The unsubscribe secret's least length in bytes: HMAC-SHA256 wants a key of 32 bytes or more.
MIN_SECRET = 32
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

# email-validator speaks English; these are the reasons a coordinator meets in practice.
REASONS = {
    "must have an @-sign": "@ saknas",
    "something after the @-sign": "det saknas något efter @",
    "something before the @-sign": "det saknas något före @",
    "It should have a period": "domänen saknar punkt (t.ex. .se)",
    "two periods in a row": "två punkter i rad",
    "SPACE": "mellanslag i adressen",
    "Internationalized characters before the @-sign": "å, ä, ö och liknande tecken före @ "
    "stöds inte",
    "invalid characters": "otillåtna tecken",
    "period immediately before the @-sign": "punkt direkt före @",
    "hyphen immediately after the @-sign": "bindestreck direkt efter @",
    "too long": "adressen är för lång",
    "anything after the email address": "det står något efter adressen",
    "cannot end with a period": "adressen slutar med en punkt",
    "cannot start with a period": "adressen börjar med en punkt",
    "period immediately after the @-sign": "punkt direkt efter @",
}
# For a reason the library gives that has no Swedish above: never its English words.
OTHER_REASON = "den följer inte formen namn@exempel.se"


@dataclass(frozen=True)
class Recipient:
    """One address to send to."""

    address: str  # lower-cased, ASCII domain: the ledger key and the token's input
    name: str
    line: int  # in the list file


def normalize(text: str) -> tuple[str, str]:
    """Return (key, "") for a valid address, or ("", Swedish reason) for an invalid one."""
    from email_validator import EmailNotValidError, validate_email

    if not text.strip():
        return "", "e-postadress saknas"
    try:
        checked = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        reason = next((sv for en, sv in REASONS.items() if en in str(e)), OTHER_REASON)
        return "", f'"{text.strip()}" är ingen giltig e-postadress: {reason}'
    return (checked.ascii_email or checked.normalized).lower(), ""


def read_list(path: Path, shown: str) -> tuple[list[Recipient], list[Problem]]:
    """Return the valid, distinct recipients of a CSV file and a problem per skipped line."""
    rows = _rows(path, shown)
    recipients: list[Recipient] = []
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for line, row in rows:
        raw = row.get("email", "")
        if not raw.strip() and not any(v.strip() for v in row.values()):
            continue
        key, reason = normalize(raw)
        if reason:
            problems.append(Problem(shown, line, f"{reason}; raden hoppas över"))
        elif bad := _bad_name(row.get("name", "")):
            if SPAN in row and re.search(r"[\r\n].*@", row.get("name", "")):  # rows swallowed
                bad += (
                    f" (värdet fortsätter till rad {row[SPAN]}: saknas ett avslutande citattecken?)"
                )
            problems.append(Problem(shown, line, f"{bad}; raden hoppas över"))
        elif key in seen:
            problems.append(
                Problem(shown, line, f'"{key}" finns redan på rad {seen[key]}; raden hoppas över')
            )
        else:
            seen[key] = line
            recipients.append(Recipient(key, row.get("name", "").strip(), line))
    return recipients, problems


SPAN = "\0last line"  # in a row read from more than one line: the line where it ends


def _bad_name(name: str) -> str:
    """Return why a name cannot stand in a To header ("" when it can)."""
    if LINE_BREAKS.search(name):
        shown = name if len(name) <= 60 else name[:60] + "…"
        return f'namnet "{shown}" innehåller en radbrytning eller ett annat styrtecken'
    return ""


def read_suppression(path: Path, shown: str) -> set[str]:
    """Return the keys of every unsubscribed address (an invalid one is kept lower-cased)."""
    return {
        normalize(raw)[0] or raw.strip().lower()
        for _, row in _rows(path, shown)
        if (raw := row.get("email", "")).strip()
    }


def _rows(path: Path, shown: str) -> list[tuple[int, dict[str, str]]]:
    """Return (line, row) pairs with lower-cased column names; raise if there is no email column."""
    if not path.is_file():
        raise ContentError([Problem(shown, 1, "filen finns inte")])
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ContentError(
            [
                Problem(
                    shown, line, 'filen är inte UTF-8; spara den som "CSV UTF-8 (kommaavgränsad)"'
                )
            ]
        ) from None
    header = text.split("\n", 1)[0]
    # Swedish spreadsheets export with semicolons
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c.strip().lower() for c in next(reader, [])]
    if "email" not in columns:
        found = ", ".join(f'"{c}"' for c in columns if c) or "ingen rubrikrad"
        hint = next((did_you_mean(c, ["email"]) for c in columns if did_you_mean(c, ["email"])), "")
        raise ContentError(
            [
                Problem(
                    shown,
                    1,
                    f'kolumnen "email" saknas (hittade {found}){hint}; '
                    'första raden ska vara rubriker, t.ex. "email,name"',
                )
            ]
        )
    rows = []
    end = reader.line_num  # a quoted value may span lines: a row starts after the last one
    try:
        for row in reader:
            values = dict(zip(columns, row, strict=False))
            if reader.line_num > end + 1:  # say where it ends: a quote left open eats rows
                values[SPAN] = str(reader.line_num)
            rows.append((end + 1, values))
            end = reader.line_num
    except csv.Error as e:  # e.g. a value over the csv module's size limit
        why = (
            f"ett värde är längre än {csv.field_size_limit():,} tecken".replace(",", "\u00a0")
            if "field limit" in str(e)
            else f"felaktig CSV ({e})"
        )
        raise ContentError(
            [Problem(shown, end + 1, f"raden kan inte läsas: {why}; rätta den i filen")]
        ) from None
    return rows


def secret_problem(secret: str, name: str) -> str:
    """Return why an unsubscribe secret is too weak to use, in Swedish ("" when it will do)."""
    size = len(secret.encode())
    if size >= MIN_SECRET:
        return ""
    return (
        f"{name} är för kort ({size} byte; minst {MIN_SECRET}): den som gissar hemligheten kan "
        f"avregistrera vem som helst. Skapa en ny med `{MAKE_SECRET}` och sätt samma värde "
        "för avregistreringssidan"
    )


def token(secret: str, address: str) -> str:
    """Return the unsubscribe token: HMAC-SHA256 of the lower-cased address, in hex.

    Raises ValueError for a secret shorter than MIN_SECRET bytes.
    """
    if problem := secret_problem(secret, "hemligheten"):
        raise ValueError(problem)
    return hmac.new(secret.encode(), address.lower().encode(), hashlib.sha256).hexdigest()


def verify(secret: str, address: str, candidate: str) -> bool:
    """Return whether candidate is the address's token (for the unsubscribe endpoint).

    Any text is an answer, never an exception: a token is hex, so one with other characters
    (which hmac.compare_digest refuses to compare as text) is simply wrong.
    """
    expected = token(secret, address)
    if not candidate.isascii():
        return False
    return hmac.compare_digest(expected.encode(), candidate.encode())


def unsubscribe_url(base: str, secret: str, address: str) -> str:
    """Return the personal one-click unsubscribe URL: base?token=...&email=..."""
    query = urlencode({"token": token(secret, address), "email": address.lower()})
    return f"{base}{'&' if '?' in base else '?'}{query}"
