"""Swedish phone numbers in HTML made into tel: links with the number in international form.

A reader on a phone taps the number to call; the href carries +46 so it also works from a
phone abroad or with a foreign SIM card.
"""

from __future__ import annotations

import html
import re

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
    and nothing after the last one is looked at.
    """
    starts = sorted(
        m.start() for p in (NATIONAL_FAST, EMERGENCY_FAST) for m in p.finditer(document)
    )
    if not starts:
        return document
    parts = TAG.split(document)
    open_tags: dict[str, int] = dict.fromkeys(SKIP, 0)
    out = []
    position, k = 0, 0  # where this part starts; the first number not yet passed
    for i, part in enumerate(parts):
        if k == len(starts):  # past the last number: the rest stays as it is
            out += parts[i:]
            break
        end = position + len(part)
        if i % 2:  # a tag or a comment
            name = SKIP_TAG.match(part)
            if name:
                tag = name.group(1).lower()
                closing = part.startswith("</")
                open_tags[tag] = max(0, open_tags[tag] + (-1 if closing else 1))
            out.append(part)
        elif starts[k] < end and not any(open_tags.values()):
            out.append(EMERGENCY.sub(_link, NATIONAL.sub(_link, part)))
        else:
            out.append(part)
        while k < len(starts) and starts[k] < end:
            k += 1
        position = end
    return "".join(out)


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
