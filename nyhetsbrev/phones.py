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
TAG = re.compile(r"(<!--.*?-->|<[^>]*>)", re.DOTALL)
# Text inside these is not linked: a link in a link, the head, code.
SKIP = {"a", "head", "title", "style", "script", "code", "pre", "textarea", "option"}


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
    """Return HTML with every phone number in its text (outside links and code) as a tel: link."""
    parts = TAG.split(document)
    open_tags: dict[str, int] = dict.fromkeys(SKIP, 0)
    out = []
    for i, part in enumerate(parts):
        if i % 2:  # a tag or a comment
            name = re.match(r"</?\s*([a-zA-Z0-9]+)", part)
            if name and name.group(1).lower() in SKIP:
                tag = name.group(1).lower()
                closing = part.startswith("</")
                open_tags[tag] = max(0, open_tags[tag] + (-1 if closing else 1))
            out.append(part)
        elif part and not any(open_tags.values()):
            out.append(EMERGENCY.sub(_link, NATIONAL.sub(_link, part)))
        else:
            out.append(part)
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
