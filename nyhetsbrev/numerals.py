"""Numbers in Swedish running text: small ones as words, decimals with a comma."""

from __future__ import annotations

WORDS = "noll ett två tre fyra fem sex sju åtta nio tio elva tolv".split()


def in_words(n: int, common: bool = False) -> str:
    """Return n as a word from zero to twelve ("ett nummer", "en text"), larger n as digits.

    common: the noun is of common gender (en-ord), so one is "en", not "ett".
    """
    if n == 1 and common:
        return "en"
    return WORDS[n] if 0 <= n < len(WORDS) else str(n)


def capitalized(n: int, common: bool = False) -> str:
    """Return in_words(n) with a capital letter, to start a sentence (never with a digit)."""
    word = in_words(n, common)
    return word[0].upper() + word[1:]


def counted(n: int, one: str, many: str) -> str:
    """Return a count with its noun in a status line: "1 text", "6 texter", "1 fil"."""
    return f"{n} {one if n == 1 else many}"


def decimal(x: float, places: int = 2) -> str:
    """Return x with a decimal comma, as Swedish writes it: 0,90."""
    return f"{x:.{places}f}".replace(".", ",")
