"""newsletter.toml -> Site, with every problem collected and given its line."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ERROR, ONE_LINE, Problem, did_you_mean, shown
from .load import CONFIG, TOO_DEEP, deepest_line, read_config
from .models import Accessibility, Bounces, Dkim, Privacy, Site, Smtp, Subscriptions

KNOWN: dict[str, set[str]] = {
    "": {
        "title",
        "organisation",
        "base_url",
        "language",
        "sender",
        "unsubscribe",
        "footer",
        "feeds",
        "smtp",
        "sending",
        "check",
        "accessibility",
        "safety",
        "subscriptions",
        "privacy",
        "bounces",
        "dkim",
    },
    "sender": {"name", "address", "reply_to", "postal", "reason"},
    "unsubscribe": {"url", "mailto"},
    "footer": {"lines", "website", "logo", "logo_alt"},
    "feeds": {"items"},
    "smtp": {"host", "port", "security", "user"},
    "sending": {"ledger", "suppression", "keep_days"},
    "subscriptions": {"url", "database", "pending_days", "signups_per_ip_per_hour"},
    "privacy": {"controller", "contact", "legal_basis", "retention"},
    "check": {"max_words"},
    "bounces": {
        "address",
        "host",
        "port",
        "security",
        "user",
        "mailbox",
        "soft_limit",
        "soft_days",
    },
    "dkim": {"domain", "selector"},
    "accessibility": {
        "status",
        "assessed",
        "updated",
        "method",
        "known_issues",
        "exempt",
        "outside",
        "feedback",
    },
    "safety": {"exit_url"},
}
# Each value with what it means, in Swedish, for the message about a wrong one.
SECURITY = {
    "starttls": "kryptering efter anslutningen",
    "tls": "kryptering från början",
    "none": "ingen kryptering",
}


# The largest value of each integer setting (a million where not listed): a bigger one is a
# mistake, and one too big for a date or a port stopped a command with a traceback.
MAXIMUM = {
    ("feeds", "items"): 1000,
    ("smtp", "port"): 65535,
    ("bounces", "port"): 65535,
    ("sending", "keep_days"): 36500,
    ("subscriptions", "pending_days"): 365,
    ("bounces", "soft_days"): 3650,
    ("bounces", "soft_limit"): 1000,
    ("check", "max_words"): 100_000,
}
# What may not stand in a URL setting: it is written into pages and feeds as it is.
NOT_IN_URL = re.compile(r"""[\s"'<>\\^`{|}]""")


def shown_char(char: str) -> str:
    """Return a character for a message: by name, as itself, or by its code point."""
    named = {'"': "ett citattecken", "'": "en apostrof", " ": "ett mellanslag"}
    if char in named:
        return named[char]
    return f"tecknet {char}" if char.isprintable() else f"tecknet U+{ord(char):04X}"


def load_site(root: Path) -> tuple[Site | None, list[Problem]]:
    """Read and check newsletter.toml alone: the site settings and every problem found."""
    text, problems = read_config(root.resolve())
    site, found = parse_config(text, root.resolve())
    return site, problems + found


# The accessibility statement's compliance levels (DIGG's words), with what each means.
COMPLIANCE = {
    "helt förenlig": "allt uppfyller kraven",
    "delvis förenlig": "det mesta uppfyller kraven",
    "inte förenlig": "det mesta uppfyller inte kraven",
}


def parse_config(text: str | None, root: Path) -> tuple[Site | None, list[Problem]]:
    """Return the site settings and the problems found in newsletter.toml.

    text is None when the file could not be read; `read_config` has said why.
    """
    if text is None:
        return None, []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+)", str(e))
        line = int(match.group(1)) if match else 1
        return None, [Problem(CONFIG, line, f"ogiltig TOML: {toml_reason(str(e))}")]
    except RecursionError:  # tomllib recurses once per level of [ and {
        line = 1 + deepest_line(text)
        return None, [Problem(CONFIG, line, f"ogiltig TOML: {TOO_DEEP}")]
    reader = _Reader(text, data)
    privacy = _privacy(reader)
    site = Site(
        root=root,
        title=reader.text("", "title", required=True),
        organisation=reader.text("", "organisation", required=True),
        base_url=reader.url("", "base_url").rstrip("/"),
        language=_language(reader),
        sender_name=reader.text("sender", "name", required=True),
        sender_address=reader.text("sender", "address", required=True),
        reply_to=reader.text("sender", "reply_to"),
        postal=reader.text("sender", "postal"),
        reason=reader.text("sender", "reason"),
        unsubscribe_url=reader.url("unsubscribe", "url"),
        unsubscribe_mailto=reader.text("unsubscribe", "mailto", required=True),
        footer_lines=tuple(reader.texts("footer", "lines")),
        feed_items=reader.integer("feeds", "items", 20, minimum=1),
        smtp=Smtp(
            host=reader.text("smtp", "host") or "localhost",
            port=reader.integer("smtp", "port", 587, minimum=1),
            security=reader.choice("smtp", "security", SECURITY, "starttls"),
            user=reader.text("smtp", "user"),
        ),
        ledger=root / (reader.text("sending", "ledger") or ".nyhetsbrev/sends.sqlite"),
        suppression=(root / s) if (s := reader.text("sending", "suppression")) else None,
        max_words=reader.integer("check", "max_words", 250, minimum=1),
        accessibility=_accessibility(reader),
        exit_url=reader.url("safety", "exit_url", "https://www.google.se/"),
        privacy=privacy,
        website=reader.url("footer", "website", ""),
        logo=_logo(reader, root),
        logo_alt=reader.text("footer", "logo_alt", required="logo" in reader.section("footer")),
        keep_days=reader.integer("sending", "keep_days", 400, minimum=1),
        subscriptions=_subscriptions(reader, root, privacy),
        bounces=_bounces(reader),
        dkim=_dkim(reader),
    )
    reader.unknown_keys()
    failed = any(p.severity == ERROR for p in reader.problems)
    return (None if failed else site), reader.problems


def one_of(choices: dict[str, str]) -> str:
    """Return 'a (meaning), b (meaning) eller c (meaning)' for a message."""
    named = [f"{value} ({meaning})" for value, meaning in choices.items()]
    return ", ".join(named[:-1]) + " eller " + named[-1] if len(named) > 1 else named[0]


# A BCP 47 language tag as pages and the search index use it: language, script, region,
# variants ("sv", "sv-SE", "se-Latn-NO"); no extensions or private use.
LANGUAGE_TAG = re.compile(
    r"[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-(?:[a-zA-Z]{2}|[0-9]{3}))?(-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*"
)


def _language(reader: _Reader) -> str:
    """Return the site's language tag ("sv" when not set), or "sv" with a problem."""
    language = reader.text("", "language") or "sv"
    if not LANGUAGE_TAG.fullmatch(language):
        reader.fail(
            "",
            "language",
            f'language "{shown(language)}" är ingen språkkod: skriv till exempel "sv" eller '
            '"sv-SE" (bindestreck, inga mellanslag)',
        )
        return "sv"
    return language


def _accessibility(reader: _Reader) -> Accessibility | None:
    if not reader.section("accessibility"):
        return None
    assessed = reader.date("accessibility", "assessed", required=True)
    feedback = reader.text("accessibility", "feedback", required=True)
    if feedback and not feedback.startswith(("mailto:", "https://")):
        reader.fail(
            "accessibility",
            "feedback",
            f'[accessibility] feedback ska börja med "mailto:" eller "https://", inte "{feedback}"',
        )
    return Accessibility(
        status=reader.choice("accessibility", "status", COMPLIANCE, "", required=True),
        assessed=assessed,
        updated=reader.date("accessibility", "updated") or assessed,
        method=reader.text("accessibility", "method", required=True),
        known_issues=tuple(reader.texts("accessibility", "known_issues")),
        exempt=tuple(reader.texts("accessibility", "exempt")),
        outside=tuple(reader.texts("accessibility", "outside")),
        feedback=feedback,
    )


def _privacy(reader: _Reader) -> Privacy | None:
    if not reader.section("privacy"):
        return None
    organisation = reader.value("", "organisation")
    return Privacy(
        controller=reader.text("privacy", "controller")
        or (organisation if isinstance(organisation, str) else ""),
        contact=reader.text("privacy", "contact", required=True),
        legal_basis=reader.text("privacy", "legal_basis", required=True),
        retention=reader.text("privacy", "retention", required=True),
    )


def _logo(reader: _Reader, root: Path) -> str:
    logo = reader.text("footer", "logo")
    if logo and not (root / logo).is_file():
        reader.fail(
            "footer", "logo", f'[footer] logo "{logo}" finns inte (sökvägen utgår från roten)'
        )
    return logo


def _bounces(reader: _Reader) -> Bounces | None:
    """Return [bounces], or None when returned mail is not read by the tool."""
    if not reader.section("bounces"):
        return None
    address = reader.text("bounces", "address", required=True)
    if address and (address.count("@") != 1 or "+" in address or not address.isascii()):
        reader.fail(
            "bounces",
            "address",
            f'[bounces] address "{shown(address)}" ska vara en vanlig e-postadress utan "+", '
            'till exempel "studs@example.se"; varje brev skickas från studs+<kod>@example.se',
        )
    return Bounces(
        address=address.lower(),
        host=reader.text("bounces", "host"),
        port=reader.integer("bounces", "port", 993, minimum=1),
        security=reader.choice("bounces", "security", SECURITY, "tls"),
        user=reader.text("bounces", "user"),
        mailbox=reader.text("bounces", "mailbox") or "INBOX",
        soft_limit=reader.integer("bounces", "soft_limit", 3, minimum=1),
        soft_days=reader.integer("bounces", "soft_days", 30, minimum=1),
    )


def _dkim(reader: _Reader) -> Dkim | None:
    """Return [dkim], or None when messages are not signed by the tool."""
    if not reader.section("dkim"):
        return None
    return Dkim(
        domain=reader.text("dkim", "domain", required=True).lower().rstrip("."),
        selector=reader.text("dkim", "selector", required=True),
    )


def _subscriptions(reader: _Reader, root: Path, privacy: Privacy | None) -> Subscriptions | None:
    """Return [subscriptions] with its [privacy] notice, or None when the service is not set up."""
    if not isinstance(reader.data.get("subscriptions"), dict):
        return None
    if privacy is None:
        reader.fail(
            "subscriptions",
            "url",
            "[privacy] saknas: tjänsten för prenumerationer visar integritetsmeddelandet, så "
            "ange controller, contact, legal_basis och retention under [privacy]",
        )
        privacy = Privacy("", "", "", "")
    return Subscriptions(
        url=reader.url("subscriptions", "url", local=True).rstrip("/"),
        database=root
        / (reader.text("subscriptions", "database") or ".nyhetsbrev/subscribers.sqlite"),
        pending_days=reader.integer("subscriptions", "pending_days", 7, minimum=1),
        signups_per_ip_per_hour=reader.integer(
            "subscriptions", "signups_per_ip_per_hour", 20, minimum=0
        ),
        privacy=privacy,
    )


# What tomllib says, in Swedish, with what to do; a message not listed stays as it is.
TOML_REASONS = [
    (r"Invalid value", 'värdet går inte att läsa: sätt text inom citattecken, t.ex. "text"'),
    (r"Expected '=' after a key in a key/value pair", "ett likhetstecken saknas efter namnet"),
    (r"Unterminated string", "ett citattecken saknas i slutet av texten"),
    (r"Unclosed array", "en lista saknar sin avslutande ]"),
    (r"Unclosed inline table", "en tabell saknar sin avslutande }"),
    (r"Expected '\]' at the end of a table declaration", "en rubrik saknar sin avslutande ]"),
    (r"Invalid date or datetime", "datumet finns inte: skriv det som 2026-10-01"),
    (r"Invalid statement", "raden går inte att läsa: skriv namn = värde"),
    (r"Invalid initial character for a key part", "namnet får inte börja med det tecknet"),
    (r"Cannot declare \('?([^)']*)'?,?\) twice", "[\\1] står två gånger: slå ihop dem"),
    (r"Cannot overwrite a value", "samma inställning står två gånger"),
    (
        r"Expected newline or end of document after a statement",
        "något mer står efter värdet på raden: skriv en inställning per rad och sätt text "
        "inom citattecken",
    ),
    (r"Expected '\]\]' at the end of an array declaration", "en rubrik saknar sin avslutande ]]"),
    (
        r"Unescaped '\\' in a string",
        "ett ensamt bakstreck i texten: skriv två bakstreck, eller sätt texten inom 'enkla "
        "citattecken'",
    ),
    (r"Invalid hex value", "en teckenkod efter ett bakstreck i texten går inte att läsa"),
    (
        r"Escaped character is not a Unicode scalar value",
        "en teckenkod efter ett bakstreck i texten är inget tecken",
    ),
    (r"Found invalid character (.*)", "otillåtet tecken \\1"),
    (r"Illegal character (.*)", "otillåtet tecken \\1"),
]


def toml_reason(error: str) -> str:
    """Return tomllib's message without its position, in Swedish where it is a known one."""
    reason = error.split(" (at")[0]
    for pattern, swedish in TOML_REASONS:
        if re.fullmatch(pattern, reason):
            return re.sub(pattern, swedish, reason)
    return reason


class _Reader:
    """Typed access to the TOML tables, recording a problem for each bad value."""

    def __init__(self, text: str, data: dict[str, Any]):
        self.lines = text.split("\n")
        self.data = data
        self.problems: list[Problem] = []

    def line(self, section: str, key: str) -> int:
        """Return the line of key in [section] (1 when it is not written)."""
        current = ""
        for number, raw in enumerate(self.lines, 1):
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                current = line.strip("[]").strip()
            elif current == section and re.match(rf"{re.escape(key)}\s*=", line):
                return number
        return next((n for n, raw in enumerate(self.lines, 1) if raw.strip() == f"[{section}]"), 1)

    def fail(self, section: str, key: str, message: str) -> None:
        self.problems.append(Problem(CONFIG, self.line(section, key), message))

    def value(self, section: str, key: str) -> Any:
        table = self.data.get(section, {}) if section else self.data
        return table.get(key) if isinstance(table, dict) else None

    def name(self, section: str, key: str) -> str:
        return f"[{section}] {key}" if section else key

    def text(self, section: str, key: str, required: bool = False) -> str:
        value = self.value(section, key)
        if value is None:
            if required:
                self.fail(section, key, f"{self.name(section, key)} saknas")
            return ""
        if not isinstance(value, str):
            self.fail(section, key, f"{self.name(section, key)} ska vara text inom citattecken")
            return ""
        return self.one_line(section, key, value.strip())

    def one_line(self, section: str, key: str, value: str) -> str:
        """Return value, or "" with a problem if it holds a line break or control character.

        Every setting is one line: names and addresses go into mail headers, which a line
        break would split.
        """
        if match := ONE_LINE.search(value):
            self.fail(
                section,
                key,
                f"{self.name(section, key)} innehåller tecknet U+{ord(match.group()):04X} "
                "(en radbrytning eller ett osynligt styrtecken): skriv värdet på en rad",
            )
            return ""
        return value

    def texts(self, section: str, key: str) -> list[str]:
        value = self.value(section, key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(section, key, f"{self.name(section, key)} ska vara en lista med texter")
            return []
        return [self.one_line(section, key, v) for v in value]

    def section(self, section: str) -> dict[str, Any]:
        """Return [section] as a table (empty when it is missing or not a table)."""
        table = self.data.get(section)
        return table if isinstance(table, dict) else {}

    def date(self, section: str, key: str, required: bool = False) -> dt.date | None:
        value = self.value(section, key)
        if value is None:
            if required:
                self.fail(section, key, f"{self.name(section, key)} saknas")
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(value.strip())
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        self.fail(
            section, key, f"{self.name(section, key)} ska vara ett datum, till exempel 2026-10-01"
        )
        return None

    def url(self, section: str, key: str, default: str | None = None, local: bool = False) -> str:
        """Return an absolute https URL (local: http on this computer too, for tests)."""
        if default is not None and self.value(section, key) is None:
            return default
        value = self.text(section, key, required=True)
        parts = urlsplit(value)
        loopback = local and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if value and (parts.scheme != "https" or not parts.netloc) and not loopback:
            self.fail(
                section,
                key,
                f"{self.name(section, key)} ska vara en absolut https-adress, "
                f'inte "{shown(value)}"',
            )
        elif match := NOT_IN_URL.search(value):
            self.fail(
                section,
                key,
                f"{self.name(section, key)} innehåller {shown_char(match.group())}, som inte får "
                "stå i en webbadress: skriv adressen utan citattecken, <, > och mellanslag",
            )
            return ""
        return value

    def integer(self, section: str, key: str, default: int, minimum: int) -> int:
        value = self.value(section, key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            least = "större än noll" if minimum == 1 else f"från och med {minimum}"
            self.fail(section, key, f"{self.name(section, key)} ska vara ett heltal {least}")
            return default
        if value > (most := MAXIMUM.get((section, key), 1_000_000)):
            high = f"{most:_}".replace("_", "\N{NO-BREAK SPACE}")
            self.fail(section, key, f"{self.name(section, key)} får vara högst {high}")
            return default
        return value

    def choice(
        self,
        section: str,
        key: str,
        choices: dict[str, str],
        default: str,
        required: bool = False,
    ) -> str:
        value = self.text(section, key, required) or default
        if not value and required:
            return value
        if value not in choices:
            self.fail(
                section,
                key,
                f'{self.name(section, key)} "{shown(value)}" måste vara {one_of(choices)}',
            )
        return value

    def unknown_keys(self) -> None:
        for section, keys in KNOWN.items():
            table = self.data.get(section, {}) if section else self.data
            if not isinstance(table, dict):
                continue
            for key in table:
                if key not in keys:
                    self.problems.append(
                        Problem(
                            CONFIG,
                            self.line(section, key),
                            f'okänd inställning "{shown(self.name(section, key))}"'
                            f"{did_you_mean(key, keys)}",
                            severity="warning",
                            rule="unknown-key",
                        )
                    )
