"""Swedish phone numbers in HTML made into tel: links with the number in international form.

A reader on a phone taps the number to call; the href carries +46 so it also works from a
phone abroad or with a foreign SIM card.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from itertools import accumulate

from markupsafe import Markup

# 020-50 50 50, 020-555 666, 08-123 456 78, 0771-11 11 00: a leading 0, an area code, a
# hyphen, then groups of digits. Not a piece of a date (2022-05-12) or of a longer number.
NATIONAL = re.compile(r"(?<![\w+\-/.:])0\d{1,3}-\d{2,3}(?: \d{2,3}){0,3}(?![\w\-/])")
EMERGENCY = re.compile(r"(?<=\bring )112\b", re.IGNORECASE)
# The same matches, found fast: the regex engine looks for the literal first, where a pattern
# that starts with a lookbehind is tried at every position of the document.
NATIONAL_FAST = re.compile(r"0(?<![\w+\-/.:]0)\d{1,3}-\d{2,3}(?: \d{2,3}){0,3}(?![\w\-/])")
EMERGENCY_FAST = re.compile(r"112(?<=\bring 112)\b", re.IGNORECASE)
TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
# Text inside these is not linked: a link in a link, the head, code.
SKIP = {"a", "head", "title", "style", "script", "code", "pre", "textarea", "option"}
# A tag whose name (the letters and digits after "<" or "</") is one of SKIP, in any case.
SKIP_TAG = re.compile(
    r"</?\s*("
    + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in name) for name in sorted(SKIP))
    + r")(?![a-zA-Z0-9])"
)


def tel_href(number: str) -> str:
    """Return the tel: URL of a Swedish number: '020-50 50 50' -> 'tel:+4620505050'."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 3:  # 112 and other short numbers are dialled as they are
        return f"tel:{digits}"
    return f"tel:+46{digits[1:]}"


def _link(match: re.Match[str]) -> str:
    number = match.group(0)
    return f'<a href="{tel_href(number)}">{number}</a>'


def link_text(text: str) -> str:
    """Return escaped text (no markup) with each phone number as a tel: link."""
    escaped = html.escape(text, quote=False)
    return EMERGENCY.sub(_link, NATIONAL.sub(_link, escaped))


def link_phones(document: str) -> str:
    """Return HTML with every phone number in its text (outside links and code) as a tel: link.

    A number never spans a tag's "<" or ">", so the numbers in a piece of text are those the
    patterns find in the whole document there: only the pieces holding one are rewritten,
    and of the tags only those that open or close a link, code and the like are followed.
    """
    starts = sorted(
        m.start() for p in (NATIONAL_FAST, EMERGENCY_FAST) for m in p.finditer(document)
    )
    if not starts:
        return document
    parts = TAG.split(document)  # text, tag, text, tag, …, text
    ends = list(accumulate(map(len, parts)))  # where each part ends in the document
    skip_tag = SKIP_TAG.match
    skips = [i for i in range(1, len(parts), 2) if skip_tag(parts[i])]
    open_tags: dict[str, int] = dict.fromkeys(SKIP, 0)
    passed = 0  # the skip tags before the current part are counted in open_tags
    done: set[int] = set()
    for start in starts:
        index = bisect_right(ends, start)  # the part the number starts in
        if index % 2 or index in done:  # in a tag, or that text is done
            continue
        done.add(index)
        while passed < len(skips) and skips[passed] < index:
            tag = parts[skips[passed]]
            name = skip_tag(tag).group(1).lower()  # type: ignore[union-attr]
            open_tags[name] = max(0, open_tags[name] + (-1 if tag.startswith("</") else 1))
            passed += 1
        if not any(open_tags.values()):
            parts[index] = EMERGENCY.sub(_link, NATIONAL.sub(_link, parts[index]))
    return "".join(parts)


def phones(text: str) -> Markup:
    """Jinja2 filter: plain text -> safe HTML with tel: links."""
    return Markup(link_text(text))


def dialable(text: str) -> str:
    """Jinja2 filter for plain text: each national number followed by its international form.

    '020-50 50 50' -> '020-50 50 50 (+4620505050)': a phone reading the text part links the
    unbroken form whole, where the spaces of the national form may split it in two.
    """

    def add(match: re.Match[str]) -> str:
        number = match.group(0)
        return f"{number} ({tel_href(number)[4:]})"

    return NATIONAL.sub(add, text)
