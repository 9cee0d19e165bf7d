"""Every front-matter field and every newsletter.toml setting, declared once.

Each `Field` says what a key holds (its kind), whether it is required, its default, its
allowed values with their Swedish meaning, and what `nyhetsbrev new` writes about it. From
these declarations:

- `check` and `config` read each value by its kind and default, and report a missing
  required one, a wrong kind or a value outside its choices;
- the unknown-key warning lists the declared keys (and suggests the closest one);
- `scaffold` writes each field's comment and example into a new file, and `check` flags a
  placeholder left in;
- the tests go through every declared field.

Texts here are Swedish where a coordinator reads them (in a message or in a new file).
Pure data: no I/O; the words and colours it shares with the outputs come from `vocabulary`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from nyhetsbrev import vocabulary

Kind = Literal[
    "text",  # one line of text (several lines when `multiline`)
    "texts",  # a text or a list of texts
    "date",  # a date, ÅÅÅÅ-MM-DD
    "datetime",  # a date and a time in Swedish time, ÅÅÅÅ-MM-DDTTT:MM
    "choice",  # one of `choices`
    "url",  # an https address (front matter: also a file beside the text)
    "integer",  # a whole number from `minimum` to `maximum`
    "color",  # a hex colour that reaches WCAG AA against white
    "goals",  # delmål: whole numbers 1–5
    "campaigns",  # campaign file names or names
    "path",  # newsletter.toml: a file path relative to the root
]


@dataclass(frozen=True)
class Field:
    """One key: of an item's, an issue's or a campaign's front matter, or of newsletter.toml."""

    key: str
    kind: Kind
    required: bool = False
    default: str | int = ""  # what an absent (or blank) value reads as
    choices: dict[str, str] = field(default_factory=dict, hash=False)  # value -> its meaning
    minimum: int = 1  # integer: the smallest value allowed
    # integer: the largest; a bigger one is a mistake, and one too big for a date or a port
    # stopped a command with a traceback
    maximum: int = 1_000_000
    # text: may hold line breaks. Every other text is one line: titles, names and places go
    # into mail headers and calendar lines, which a line break would split.
    multiline: bool = False
    local: bool = False  # url: also http on this computer (127.0.0.1, localhost), for tests
    required_with: str = ""  # required when this other key of the same table is written
    hint: str = ""  # Swedish, added to "KEY saknas": how to write the value
    # What `nyhetsbrev new` writes: the comment lines above the key, the example written
    # after "# KEY: " when no value is given, and whether only `new item --event` writes it.
    comment: str = ""
    example: str = ""
    event: bool = False
    placeholder: str = ""  # a text `new` writes that `check` flags if it is left in


# Each value with what it means, in Swedish, for the message about a wrong one.
STATUSES = vocabulary.STATUS_MEANINGS
TYPES = vocabulary.TYPE_SINGULAR
SECURITY = {
    "starttls": "kryptering efter anslutningen",
    "tls": "kryptering från början",
    "none": "ingen kryptering",
}
# The accessibility statement's compliance levels (DIGG's words), with what each means.
COMPLIANCE = {
    "helt förenlig": "allt uppfyller kraven",
    "delvis förenlig": "det mesta uppfyller kraven",
    "inte förenlig": "det mesta uppfyller inte kraven",
}

# Examples `new` writes: harmless while commented out, placeholders once uncommented.
LOCATION = "Plats eller Digitalt via Teams"
PREHEADER_EXAMPLE = "Kort om vad numret innehåller, t.ex. utbildningar och kampanjer under våren."
IMAGE_ALT_EXAMPLE = "Vad bilden visar"
DATE_HINT = ", skriv datumet som ÅÅÅÅ-MM-DD"


def quoted(text: str) -> str:
    """Return text as a double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def one_of(choices: dict[str, str]) -> str:
    """Return 'a (meaning), b (meaning) eller c (meaning)' for a message."""
    named = [f"{value} ({meaning})" for value, meaning in choices.items()]
    return ", ".join(named[:-1]) + " eller " + named[-1] if len(named) > 1 else named[0]


def _date(comment: str) -> Field:
    """Return the required `date` of an item or an issue, with the scaffold's comment."""
    return Field("date", "date", required=True, hint=DATE_HINT, comment=comment)


# Front matter, in the order `new` writes the fields. A default that depends on other values
# is computed where the field is read (check.py), and named in a comment here.
ITEM = (
    Field("title", "text", required=True),
    _date("Publiceringsdatum, ÅÅÅÅ-MM-DD (flödets datum). Ska ligga i numrets år."),
    # default: YEAR/ISSUE-ID/SLUG
    Field("id", "text", comment="Stabil identitet för flödena: ändra den aldrig."),
    Field(
        "campaign",
        "campaigns",
        comment="Kampanj (filnamn i campaigns/ utan .md), en eller en lista.",
        example="svartsjuka",
    ),
    Field(  # default: the body's first paragraph
        "summary",
        "text",
        multiline=True,
        comment="En eller två meningar; utan summary används första stycket.",
        example='""',
    ),
    Field(
        "delmal",
        "goals",
        comment="Delmål i den regionala strategin, heltal 1–5.",
        example="[1, 5]",
    ),
    Field(
        "malgrupp",
        "texts",
        comment="Målgrupper, fri text.",
        example="[Socialtjänst, Hälso- och sjukvård]",
    ),
    Field("type", "choice", default="news", choices=TYPES, event=True),
    Field(
        "start",
        "datetime",
        comment="Start och slut i svensk tid, t.ex. 2023-03-14T09:00.",
        event=True,
    ),
    Field("end", "datetime", event=True),
    Field("location", "text", event=True, placeholder=LOCATION),
    Field(
        "registration",
        "url",
        comment="Adress till anmälan (https://…).",
        example="https://www.example.se/anmalan",
        event=True,
    ),
    Field(
        "image",
        "url",
        comment="Bild i mappen (eller https://…) och en beskrivning för den som inte ser den.",
        example="bild.png",
    ),
    Field(
        "image_alt",
        "text",
        required_with="image",
        hint=": beskriv bilden i text för den som inte ser den "
        '(skriv image_alt: "" om bilden bara är dekoration)',
        example=quoted(IMAGE_ALT_EXAMPLE),
        placeholder=IMAGE_ALT_EXAMPLE,
    ),
    Field(
        "link",
        "url",
        comment='Adress för knappen "Läs mer".',
        example="https://www.example.se/",
    ),
)
ISSUE = (
    _date("Planerat utskicksdatum, ÅÅÅÅ-MM-DD."),
    # default: "Nyhetsbrev <månad> <år>" from the date
    Field("title", "text", comment="Numrets rubrik, också ämnesraden i mejlet."),
    Field(  # default: the items' titles (or the intro)
        "preheader",
        "text",
        comment="Texten som syns efter ämnesraden i inkorgen: 40–130 tecken, inte samma som "
        "rubriken.\nUtan preheader byggs den av texternas rubriker.",
        example=quoted(PREHEADER_EXAMPLE),
        placeholder=PREHEADER_EXAMPLE,
    ),
    Field(
        "status",
        "choice",
        default="draft",
        choices=STATUSES,
        comment=one_of(STATUSES) + ".",
    ),
    Field(
        "order",
        "texts",
        comment="Texternas ordning (filnamn utan .md); utan order sorteras de efter datum.",
        example="[forsta-texten, andra-texten]",
    ),
)
CAMPAIGN = (
    Field(
        "name", "text", required=True, comment="Kampanjens namn, visas på märket vid varje text."
    ),
    Field(
        "color",
        "color",
        default=vocabulary.DEFAULT_CAMPAIGN_COLOR,
        comment="Kampanjens färg (hex). Vit text på färgen måste nå kontrast 4,5:1 (WCAG AA).",
    ),
    Field(
        "url",
        "url",
        comment="Kampanjens webbplats (https://…).",
        example="https://www.example.se/kampanj",
    ),
    Field(
        "contact",
        "text",
        comment='Kontakt, t.ex. en stödlinje: "Välj att sluta 020-555 666".',
        example='""',
    ),
    Field(
        "logo",
        "url",
        comment="Logotyp i campaigns/ (eller https://…) och en beskrivning av den.",
        example="logotyp.png",
    ),
    Field(
        "logo_alt",
        "text",
        required_with="logo",
        hint=': beskriv logotypen i text (eller skriv logo_alt: "")',
        example='""',
    ),
)

# newsletter.toml: each table ("" is the top level) with its settings, in the order they
# are read. A table's required settings are required only when the table is written, except
# in the tables every site needs ("", sender, unsubscribe).
SETTINGS: dict[str, tuple[Field, ...]] = {
    "": (
        Field("title", "text", required=True),
        Field("organisation", "text", required=True),
        Field("base_url", "url", required=True),
        Field("language", "text", default="sv"),
    ),
    "sender": (
        Field("name", "text", required=True),
        Field("address", "text", required=True),
        Field("reply_to", "text"),
        Field("postal", "text"),
        Field("reason", "text"),
    ),
    "unsubscribe": (
        Field("url", "url", required=True),
        Field("mailto", "text", required=True),
    ),
    "footer": (
        Field("lines", "texts"),
        Field("website", "url"),
        Field("logo", "path"),
        Field("logo_alt", "text", required_with="logo"),
    ),
    "feeds": (Field("items", "integer", default=20, maximum=1000),),
    "smtp": (
        Field("host", "text", default="localhost"),
        Field("port", "integer", default=587, maximum=65535),
        Field("security", "choice", default="starttls", choices=SECURITY),
        Field("user", "text"),
    ),
    "sending": (
        Field("ledger", "path", default=".nyhetsbrev/sends.sqlite"),
        Field("suppression", "path"),
        Field("keep_days", "integer", default=400, maximum=36500),
    ),
    "subscriptions": (
        Field("url", "url", required=True, local=True),
        Field("database", "path", default=".nyhetsbrev/subscribers.sqlite"),
        Field("pending_days", "integer", default=7, maximum=365),
        Field("signups_per_ip_per_hour", "integer", default=20, minimum=0),  # 0: no limit
    ),
    "privacy": (
        Field("controller", "text"),  # default: the organisation
        Field("contact", "text", required=True),
        Field("legal_basis", "text", required=True),
        Field("retention", "text", required=True),
    ),
    "check": (Field("max_words", "integer", default=250, maximum=100_000),),
    "bounces": (
        Field("address", "text", required=True),
        Field("host", "text"),
        Field("port", "integer", default=993, maximum=65535),
        Field("security", "choice", default="tls", choices=SECURITY),
        Field("user", "text"),
        Field("mailbox", "text", default="INBOX"),
        Field("soft_limit", "integer", default=3, maximum=1000),
        Field("soft_days", "integer", default=30, maximum=3650),
    ),
    "dkim": (
        Field("domain", "text", required=True),
        Field("selector", "text", required=True),
    ),
    "accessibility": (
        Field("status", "choice", required=True, choices=COMPLIANCE),
        Field("assessed", "date", required=True),
        Field("updated", "date"),  # default: assessed
        Field("method", "text", required=True),
        Field("known_issues", "texts"),
        Field("exempt", "texts"),
        Field("outside", "texts"),
        Field("feedback", "text", required=True),
    ),
    "safety": (Field("exit_url", "url", default="https://www.google.se/"),),
}


def keys(fields: tuple[Field, ...]) -> tuple[str, ...]:
    """Return the keys of fields, in their order."""
    return tuple(f.key for f in fields)


def config_keys(section: str) -> tuple[str, ...]:
    """Return the keys newsletter.toml knows in [section] ("" : the top level and the tables)."""
    own = keys(SETTINGS[section])
    return own + tuple(name for name in SETTINGS if name) if section == "" else own


def setting(section: str, key: str) -> Field:
    """Return the declaration of [section] key in newsletter.toml."""
    return next(f for f in SETTINGS[section] if f.key == key)


def number(section: str, key: str) -> int:
    """Return the default of an integer setting (for the models' own defaults)."""
    default = setting(section, key).default
    assert isinstance(default, int), (section, key)
    return default


def text(section: str, key: str) -> str:
    """Return the default of a text setting (for the models' own defaults)."""
    return str(setting(section, key).default)


# Front-matter fields whose value, left as `new` wrote it, is a placeholder.
PLACEHOLDER_FIELDS = {f.key: f.placeholder for f in ITEM + ISSUE + CAMPAIGN if f.placeholder}
