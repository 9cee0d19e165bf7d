"""newsletter.toml -> Site, with every problem collected and given its line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ERROR, Problem, did_you_mean
from .load import CONFIG
from .models import Privacy, Site, Smtp, Subscriptions

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
        "subscriptions",
        "privacy",
    },
    "sender": {"name", "address", "reply_to", "postal", "reason"},
    "unsubscribe": {"url", "mailto"},
    "footer": {"lines"},
    "feeds": {"items"},
    "smtp": {"host", "port", "security", "user"},
    "sending": {"ledger", "suppression", "keep_days"},
    "subscriptions": {"url", "database", "pending_days", "signups_per_ip_per_hour"},
    "privacy": {"controller", "contact", "legal_basis", "retention"},
    "check": {"max_words"},
}
SECURITY = ("starttls", "tls", "none")


def parse_config(text: str | None, root: Path) -> tuple[Site | None, list[Problem]]:
    """Return the site settings and the problems found in newsletter.toml."""
    if text is None:
        return None, [
            Problem(
                CONFIG,
                1,
                f"{CONFIG} saknas i {root}: ange rätt mapp med --root "
                "eller skapa filen (se README)",
            )
        ]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = re.search(r"\(at line (\d+)", str(e))
        line = int(match.group(1)) if match else 1
        return None, [Problem(CONFIG, line, f"ogiltig TOML: {str(e).split(' (at')[0]}")]
    reader = _Reader(text, data)
    site = Site(
        root=root,
        title=reader.text("", "title", required=True),
        organisation=reader.text("", "organisation", required=True),
        base_url=reader.url("", "base_url").rstrip("/"),
        language=reader.text("", "language") or "sv",
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
        keep_days=reader.integer("sending", "keep_days", 400, minimum=1),
        subscriptions=_subscriptions(reader, root),
    )
    reader.unknown_keys()
    failed = any(p.severity == ERROR for p in reader.problems)
    return (None if failed else site), reader.problems


def _subscriptions(reader: _Reader, root: Path) -> Subscriptions | None:
    """Return [subscriptions] with its [privacy] notice, or None when the service is not set up."""
    if not isinstance(reader.data.get("subscriptions"), dict):
        return None
    organisation = reader.value("", "organisation")
    return Subscriptions(
        url=reader.url("subscriptions", "url", local=True).rstrip("/"),
        database=root
        / (reader.text("subscriptions", "database") or ".nyhetsbrev/subscribers.sqlite"),
        pending_days=reader.integer("subscriptions", "pending_days", 7, minimum=1),
        signups_per_ip_per_hour=reader.integer(
            "subscriptions", "signups_per_ip_per_hour", 20, minimum=0
        ),
        privacy=Privacy(
            controller=reader.text("privacy", "controller")
            or (organisation if isinstance(organisation, str) else ""),
            contact=reader.text("privacy", "contact", required=True),
            legal_basis=reader.text("privacy", "legal_basis", required=True),
            retention=reader.text("privacy", "retention", required=True),
        ),
    )


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
        return value.strip()

    def texts(self, section: str, key: str) -> list[str]:
        value = self.value(section, key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(section, key, f"{self.name(section, key)} ska vara en lista med texter")
            return []
        return value

    def url(self, section: str, key: str, local: bool = False) -> str:
        """Return an absolute https URL (local: http on this computer too, for tests)."""
        value = self.text(section, key, required=True)
        parts = urlsplit(value)
        loopback = local and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")
        if value and (parts.scheme != "https" or not parts.netloc) and not loopback:
            self.fail(
                section,
                key,
                f'{self.name(section, key)} ska vara en absolut https-adress, inte "{value}"',
            )
        return value

    def integer(self, section: str, key: str, default: int, minimum: int) -> int:
        value = self.value(section, key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(section, key, f"{self.name(section, key)} ska vara ett heltal från {minimum}")
            return default
        return value

    def choice(self, section: str, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.text(section, key) or default
        if value not in choices:
            self.fail(
                section,
                key,
                f'{self.name(section, key)} "{value}" är inte ett av '
                + ", ".join(f'"{c}"' for c in choices),
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
                            f'okänd inställning "{self.name(section, key)}"'
                            f"{did_you_mean(key, keys)}",
                            severity="warning",
                            rule="unknown-key",
                        )
                    )
