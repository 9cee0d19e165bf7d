"""Swedish for click's own words: usage lines, help headings and its error messages.

click marks its texts for gettext (`_()` and `ngettext()` looked up in each of its modules at
call time). A coordinator reads them, so `install()` points those names at this catalogue.
A text missing here stays English; a test runs every kind of usage error and fails on English.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

CATALOGUE: dict[str, str] = {
    "Usage:": "Användning:",
    "Options": "Flaggor",
    "Commands": "Kommandon",
    "Positional arguments": "Argument",
    "Show this message and exit.": "Visa den här hjälpen och avsluta.",
    "Show the version and exit.": "Visa versionen och avsluta.",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "Error: {message}": "Fel: {message}",
    "Try '{command} {option}' for help.": "Skriv '{command} {option}' för hjälp.",
    "Aborted!": "Avbrutet.",
    "Missing argument": "Argument saknas",
    "Missing option": "Flagga saknas",
    "Missing parameter": "Värde saknas",
    "Missing command.": "Ange ett kommando.",
    "Missing {param_type}": "{param_type} saknas",
    "Missing parameter: {param_name}": "Värde saknas: {param_name}",
    "argument": "argument",
    "option": "flagga",
    "parameter": "värde",
    "Invalid value for {param_hint}: {message}": "Ogiltigt värde för {param_hint}: {message}",
    "Invalid value: {message}": "Ogiltigt värde: {message}",
    "No such command {name!r}.": "Kommandot {name!r} finns inte.",
    "No such option {name!r}.": "Flaggan {name!r} finns inte.",
    "Did you mean {possibility}?": "Menade du {possibility}?",
    "(Did you mean one of: {possibilities}?)": "(Menade du någon av: {possibilities}?)",
    "Option {name!r} requires an argument.": "Flaggan {name!r} behöver ett värde.",
    "Option {name!r} requires {nargs} arguments.": "Flaggan {name!r} behöver {nargs} värden.",
    "Option {name!r} does not take a value.": "Flaggan {name!r} tar inget värde.",
    "Got unexpected extra argument ({args})": "Oväntat extra argument ({args})",
    "Got unexpected extra arguments ({args})": "Oväntade extra argument ({args})",
    "{value!r} is not a valid {number_type}.": "{value!r} är inget giltigt {number_type}.",
    "{value!r} is not one of {choices}.": "{value!r} måste vara en av {choices}.",
    "{value!r} is not {choice}.": "{value!r} måste vara {choice}.",
    "{value} is not in the range {range}.": "värdet {value} ska vara {range}.",
    "{value!r} does not match the format {format}.": "{value!r} följer inte formatet {format}.",
    "{value!r} does not match the formats {formats}.": "{value!r} följer inget av formaten "
    "{formats}.",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} är varken ja "
    "eller nej. Giltiga värden: {states}",
    "{value!r} is not a valid UUID.": "{value!r} är inget giltigt UUID.",
    "{name} {filename!r} does not exist.": "{name} {filename!r} finns inte.",
    "{name} {filename!r} is a file.": "{name} {filename!r} är en fil, inte en mapp.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} är en mapp, inte en fil.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} går inte att läsa.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} går inte att skriva till.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} går inte att köra.",
    "file": "fil",
    "directory": "mapp",
    "path": "sökväg",
    "Could not open file {filename!r}: {message}": "Filen {filename!r} går inte att öppna: "
    "{message}",
    "default": "standard",
    "default: {default}": "standard: {default}",
    "required": "krävs",
    "env var: {var}": "miljövariabel: {var}",
    "Choose from:\n\t{choices}": "Välj bland:\n\t{choices}",
    "Takes {nargs} values but 1 was given.": "Tar {nargs} värden men fick ett.",
    "Takes {nargs} values but {len} were given.": "Tar {nargs} värden men fick {len}.",
    "Do you want to continue?": "Vill du fortsätta?",
    "Error: invalid input": "Fel: ogiltig inmatning",
}

# Type names appear in error messages ("'x' är inget giltigt heltal.") and, upper-cased, as
# placeholders in the help ("--port HELTAL").
_TYPE_NAMES = {
    "IntParamType": "heltal",
    "FloatParamType": "decimaltal",
    "IntRange": "heltal",
    "FloatRange": "decimaltal",
    "StringParamType": "text",
    "BoolParamType": "ja/nej",
}
OPTIONS_METAVAR = "[FLAGGOR]"
SUBCOMMAND_METAVAR = "KOMMANDO [ARGUMENT]..."

_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types")


def gettext(message: str) -> str:
    """Return the Swedish text for one of click's messages (the English if it has none)."""
    return CATALOGUE.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Return the Swedish singular or plural of one of click's messages."""
    return gettext(singular if n == 1 else plural)


def install() -> None:
    """Make click speak Swedish: point its modules' gettext names at the catalogue."""
    for name in _MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]
    types = importlib.import_module("click.types")
    for cls, name in _TYPE_NAMES.items():
        getattr(types, cls).name = name
    types._NumberRangeBase._describe_range = describe_range


def describe_range(self: Any) -> str:
    """Return a number option's range in Swedish words ("minst 1"), not as "x>=1"."""
    low = high = ""
    if self.min is not None:
        low = f"större än {self.min}" if self.min_open else f"minst {self.min}"
    if self.max is not None:
        high = f"mindre än {self.max}" if self.max_open else f"högst {self.max}"
    if low and high and not (self.min_open or self.max_open):
        return f"från och med {self.min} till och med {self.max}"
    return " och ".join(part for part in (low, high) if part)


class Command(click.Command):
    """A click command whose usage line is Swedish."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", OPTIONS_METAVAR)
        super().__init__(*args, **kwargs)


class Group(click.Group):
    """A click group whose usage line, and every command made under it, is Swedish."""

    command_class = Command

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", OPTIONS_METAVAR)
        kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)


Group.group_class = Group
