"""Problems found in content, and the exception that reports them without a traceback."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import click

# What str.splitlines() splits on, and other control characters, shown as \n, \x85 ...
LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What a one-line value (a title, a name, a place) may not hold: line breaks, U+2028/U+2029
# and other control characters; a tab is only white space.
ONE_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
ERROR = "error"
WARNING = "warning"
QUOTE_LIMIT = 80  # characters of a value quoted in a message
MESSAGE_LIMIT = 2_000  # characters of one message, whatever it quotes


def shown(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Return value as text for a message, cut to limit characters with "…".

    Only a bounded prefix of a list or table is ever turned into text, so a huge value
    costs no more than a small one.
    """
    text = _bounded_text(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded_text(value: object, limit: int) -> str:
    """Return about the first limit characters of value's text (lists shown as [a, b])."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, (list, tuple, dict)):
        parts: list[str] = []
        size = 0
        items = value.items() if isinstance(value, dict) else value
        for element in items:
            if size > limit:
                break
            if isinstance(value, dict):
                key, inner = element
                part = f"{_bounded_text(key, limit)}: {_bounded_text(inner, limit)}"
            else:
                part = _bounded_text(element, limit)
            parts.append(part)
            size += len(part) + 2
        brackets = "{}" if isinstance(value, dict) else "[]"
        return (brackets[0] + ", ".join(parts) + brackets[1])[:limit]
    return str(value)[:limit]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: where it is, what is wrong, and how bad it is."""

    path: str
    line: int
    message: str
    severity: str = ERROR
    rule: str = ""

    def __str__(self) -> str:
        prefix = "varning: " if self.severity == WARNING else ""
        rule = f" [{self.rule}]" if self.rule else ""
        # One problem, one line: a value quoted in the message (or a file name) may hold a
        # line break; and however much a message quotes, it stays a readable size.
        message = _escaped(shown(self.message, MESSAGE_LIMIT))
        return f"{_escaped(self.path)}:{self.line}: {prefix}{message}{rule}"


def _escaped(text: str) -> str:
    """Return text with line breaks and control characters written as \\n, \\x85 ..."""
    return LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


class NyhetsbrevError(click.ClickException):
    """Base of every error a user can cause; click shows it without a traceback."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:  # click's signature
        click.echo(self.format_message(), err=True)


class ContentError(NyhetsbrevError):
    """One or more problems in the content tree, reported together."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (menade du "x"?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (menade du "{close[0]}"?)' if close else ""


def known(choices: Iterable[str]) -> str:
    """Return the choices as a readable, sorted list."""
    return ", ".join(f'"{c}"' for c in sorted(choices)) or "inga"
