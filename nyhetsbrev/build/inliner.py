"""premailer, doing only the work that differs from one email to the next.

Every issue's email gets the same CSS inlined. premailer parses that CSS once (its own
cache), but then walks the parsed sheet again for every email, and cssutils recomputes each
property's value as it goes: a third of premailer's time. _Premailer keeps the rules it
derives from a CSS text (plain strings) and hands out copies. Its other costly step parses
the style of every <img> with cssutils to find a CSS float (for Outlook's align attribute);
an email in which no style can hold "float" skips that step, which then finds nothing.
The output is the same, byte for byte.
"""

from __future__ import annotations

import html as htmllib
import logging
import threading
from typing import Any

from premailer import Premailer

# How the email is inlined: no network, no validation, classes and !important kept, and
# width/height left to the template (MRML writes them as attributes already).
OPTIONS: dict[str, Any] = {
    "disable_validation": True,
    "keep_style_tags": False,
    "remove_classes": False,
    "strip_important": False,
    "disable_link_rewrites": True,
    "allow_network": False,
    "cssutils_logging_level": logging.CRITICAL,
    "cache_css_parsing": True,
    "disable_basic_attributes": ["width", "height"],
}
KEPT_CSS = 16  # distinct CSS texts whose rules are kept (one per content tree, in practice)

_rules: dict[tuple[Any, ...], tuple[list[Any], list[Any]]] = {}
_lock = threading.Lock()


class _Premailer(Premailer):  # type: ignore[misc]  # premailer ships no types
    def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list[Any], list[Any]]:
        key = (
            css_body,
            ruleset_index,
            self.strip_important,
            self.exclude_pseudoclasses,
            self.include_star_selectors,
            self.disable_validation,
        )
        with _lock:
            found = _rules.get(key)
        if found is None:
            found = super()._parse_style_rules(css_body, ruleset_index)
            with _lock:
                if len(_rules) >= KEPT_CSS:
                    _rules.clear()
                _rules[key] = found
        rules, leftover = found
        return list(rules), list(leftover)  # premailer extends and sorts what it gets


def may_float(html: str, css: str) -> bool:
    """Return whether an element's style in html (once css is inlined) could set a float.

    Conservative: the word in any spelling, after HTML entities are decoded, or any
    backslash (a CSS escape could spell it).
    """
    text = css + html
    return "\\" in text or "float" in htmllib.unescape(text).lower()


def inline(body: str, css: str) -> str:
    """Return premailer's transform of body (without a doctype) with css inlined."""
    return str(
        _Premailer(
            body, css_text=css, align_floating_images=may_float(body, css), **OPTIONS
        ).transform(pretty_print=False)
    )
