"""Problems found in content, and the exception that reports them without a traceback."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import click

# What str.splitlines() splits on, and other control characters, shown as \n, \x85 ...
LINE_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ERROR = "error"
WARNING = "warning"


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
        # One problem, one line: a value quoted in the message may hold a line break.
        message = LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], self.message)
        return f"{self.path}:{self.line}: {prefix}{message}{rule}"


class NyhetsbrevError(click.ClickException):
    """Base of every error a user can cause; click shows it without a traceback."""

    exit_code = 1

    def show(self, file=None) -> None:  # noqa: D102 - click's signature
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
