"""newsletter.toml -> Site, with every problem collected and given its line."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tomllib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from nyhetsbrev.content.load import CONFIG, TOO_DEEP, deepest_line, read_config, starts_like
from nyhetsbrev.content.markup import IMAGE_SUFFIXES, PUBLISHABLE
from nyhetsbrev.content.models import (
    Accessibility,
    Bounces,
    Dkim,
    Privacy,
    Site,
    Smtp,
    Subscriptions,
)
from nyhetsbrev.errors import ERROR, ONE_LINE, Problem, did_you_mean, shown
from nyhetsbrev.schema import SETTINGS, Field, Kind, config_keys, one_of, setting

# Each table's known keys, for the unknown-key warning; the keys are declared in schema.
KNOWN: dict[str, tuple[str, ...]] = {section: config_keys(section) for section in SETTINGS}


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
    reader = _Reader(text, data, root)
    privacy = _privacy(reader)
    site = Site(
        root=root,
        title=reader.text("", "title"),
        organisation=reader.text("", "organisation"),
        base_url=reader.url("", "base_url").rstrip("/"),
        language=_language(reader),
        sender_name=reader.text("sender", "name"),
        sender_address=reader.text("sender", "address"),
        reply_to=reader.text("sender", "reply_to"),
        postal=reader.text("sender", "postal"),
        reason=reader.text("sender", "reason"),
        unsubscribe_url=reader.url("unsubscribe", "url"),
        unsubscribe_mailto=reader.text("unsubscribe", "mailto"),
        footer_lines=tuple(reader.texts("footer", "lines")),
        feed_items=reader.integer("feeds", "items"),
        smtp=Smtp(**reader.table("smtp")),
        ledger=root / reader.text("sending", "ledger"),
        suppression=(root / s) if (s := reader.text("sending", "suppression")) else None,
        max_words=reader.integer("check", "max_words"),
        accessibility=_accessibility(reader),
        exit_url=reader.url("safety", "exit_url"),
        privacy=privacy,
        website=reader.url("footer", "website"),
        logo=_logo(reader, root),
        logo_alt=reader.text("footer", "logo_alt"),
        keep_days=reader.integer("sending", "keep_days"),
        subscriptions=_subscriptions(reader, root, privacy),
        bounces=_bounces(reader),
        dkim=_dkim(reader),
    )
    reader.unknown_keys()
    failed = any(p.severity == ERROR for p in reader.problems)
    return (None if failed else site), reader.problems


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
    values = reader.table("accessibility")
    feedback = values["feedback"]
    if feedback and not feedback.startswith(("mailto:", "https://")):
        reader.fail(
            "accessibility",
            "feedback",
            f'[accessibility] feedback ska börja med "mailto:" eller "https://", inte "{feedback}"',
        )
    return Accessibility(**values | {"updated": values["updated"] or values["assessed"]})


def _privacy(reader: _Reader) -> Privacy | None:
    if not reader.section("privacy"):
        return None
    values = reader.table("privacy")
    organisation = reader.value("", "organisation")
    default = organisation if isinstance(organisation, str) else ""
    return Privacy(**values | {"controller": values["controller"] or default})


def _logo(reader: _Reader, root: Path) -> str:
    """Return [footer] logo, a file under the root that is published as it is ("" if bad).

    It is copied into the output at the same relative path, so it must stay inside the
    root (no "..", no absolute path, no link out of it) and be an inert image type,
    recognised by its first bytes, like images linked from Markdown.
    """
    logo = reader.text("footer", "logo")
    if not logo:
        return logo
    where = f'[footer] logo "{shown(logo)}"'
    relative = PurePosixPath(logo)
    if relative.is_absolute() or "\\" in logo or ".." in relative.parts:
        reader.fail(
            "footer",
            "logo",
            f"{where} ska vara en sökväg inom innehållets mapp, som logotyp.png eller "
            "bilder/logotyp.png (utan / först och utan ..)",
        )
        return ""
    path = root / relative
    if not path.is_file():
        reader.fail("footer", "logo", f"{where} finns inte (sökvägen utgår från roten)")
        return ""
    if not path.resolve().is_relative_to(root.resolve()):
        reader.fail(
            "footer",
            "logo",
            f"{where} är en länk till en fil utanför innehållets mapp: lägg bilden i mappen",
        )
        return ""
    suffix = relative.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        reader.fail(
            "footer",
            "logo",
            f"{where} får inte publiceras: logotypen ska vara en bild (png, jpg, gif eller "
            "webp), eftersom andra filtyper (som svg) kan köra skript på webbplatsen",
        )
        return ""
    kind = PUBLISHABLE[suffix][0]
    if not starts_like(path, PUBLISHABLE[suffix][1], suffix):
        reader.fail(
            "footer",
            "logo",
            f"{where} är ingen riktig {kind}: innehållet stämmer inte med filändelsen {suffix}",
        )
        return ""
    return relative.as_posix()


def _bounces(reader: _Reader) -> Bounces | None:
    """Return [bounces], or None when returned mail is not read by the tool."""
    if not reader.section("bounces"):
        return None
    values = reader.table("bounces")
    address = values["address"]
    if address and (address.count("@") != 1 or "+" in address or not address.isascii()):
        reader.fail(
            "bounces",
            "address",
            f'[bounces] address "{shown(address)}" ska vara en vanlig e-postadress utan "+", '
            'till exempel "studs@example.se"; varje brev skickas från studs+<kod>@example.se',
        )
    return Bounces(**values | {"address": address.lower()})


def _dkim(reader: _Reader) -> Dkim | None:
    """Return [dkim], or None when messages are not signed by the tool."""
    if not reader.section("dkim"):
        return None
    values = reader.table("dkim")
    return Dkim(**values | {"domain": values["domain"].lower().rstrip(".")})


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
    values = reader.table("subscriptions")
    return Subscriptions(**values | {"url": values["url"].rstrip("/"), "privacy": privacy})


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

    def __init__(self, text: str, data: dict[str, Any], root: Path):
        self.root = root
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

    def declared(self, section: str, key: str, *kinds: Kind) -> Field:
        """Return the declaration of [section] key; reading it as another kind is a bug."""
        declared = setting(section, key)
        if declared.kind not in kinds:
            raise TypeError(f"[{section}] {key} is declared {declared.kind}, read as {kinds}")
        return declared

    def required(self, section: str, declared: Field) -> bool:
        """Return whether [section] must hold the key (some only when another key is set)."""
        return declared.required or (
            bool(declared.required_with) and declared.required_with in self.section(section)
        )

    def text(self, section: str, key: str) -> str:
        """Return a text (or path) setting; its default when it is absent or blank."""
        declared = self.declared(section, key, "text", "path")
        value = self.raw_text(section, key, self.required(section, declared))
        return value or str(declared.default)

    def raw_text(self, section: str, key: str, required: bool) -> str:
        """Return the text written for key ("" when absent), recording a problem if it is bad."""
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
        self.declared(section, key, "texts")
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

    def date(self, section: str, key: str) -> dt.date | None:
        declared = self.declared(section, key, "date")
        value = self.value(section, key)
        if value is None:
            if self.required(section, declared):
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

    def url(self, section: str, key: str) -> str:
        """Return an absolute https URL (local: http on this computer too, for tests).

        An optional one that is absent reads as its default; one written must be an address.
        """
        declared = self.declared(section, key, "url")
        if not declared.required and self.value(section, key) is None:
            return str(declared.default)
        value = self.raw_text(section, key, required=True)
        parts = urlsplit(value)
        loopback = (
            declared.local
            and parts.scheme == "http"
            and parts.hostname in ("127.0.0.1", "localhost")
        )
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

    def integer(self, section: str, key: str) -> int:
        declared = self.declared(section, key, "integer")
        default, minimum, most = int(declared.default), declared.minimum, declared.maximum
        value = self.value(section, key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            least = "större än noll" if minimum == 1 else f"från och med {minimum}"
            self.fail(section, key, f"{self.name(section, key)} ska vara ett heltal {least}")
            return default
        if value > most:
            high = f"{most:_}".replace("_", "\N{NO-BREAK SPACE}")
            self.fail(section, key, f"{self.name(section, key)} får vara högst {high}")
            return default
        return value

    def choice(self, section: str, key: str) -> str:
        declared = self.declared(section, key, "choice")
        choices, required = declared.choices, declared.required
        value = self.raw_text(section, key, required) or str(declared.default)
        if not value and required:
            return value
        if value not in choices:
            self.fail(
                section,
                key,
                f'{self.name(section, key)} "{shown(value)}" måste vara {one_of(choices)}',
            )
        return value

    def table(self, section: str) -> dict[str, Any]:
        """Return every setting declared for [section], each read by its kind, by key.

        A model whose attributes are named as its table's keys is built from this; a path
        setting is resolved against the root.
        """
        read: dict[Kind, Callable[[str, str], Any]] = {
            "text": self.text,
            "texts": lambda section, key: tuple(self.texts(section, key)),
            "date": self.date,
            "url": self.url,
            "integer": self.integer,
            "choice": self.choice,
            "path": lambda section, key: self.root / self.text(section, key),
        }
        return {f.key: read[f.kind](section, f.key) for f in SETTINGS[section]}

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
