"""premailer, doing only the work that differs from one email to the next.

Every issue's email gets the same CSS inlined. premailer parses that CSS once (its own
cache), but then walks the parsed sheet again for every email, and cssutils recomputes each
property's value as it goes: a third of premailer's time. _Premailer keeps the rules it
derives from a CSS text (plain strings) and hands out copies. Its other costly step parses
the style of every <img> with cssutils to find a CSS float (for Outlook's align attribute);
an email in which no style can hold "float" skips that step, which then finds nothing.
Two more steps give the same answer for the same question many times over, in every email:
merging an element's style with the rules it matches (merge_styles) and turning that style
into HTML attributes (bgcolor, align); both answers are kept per question. The output is the
same, byte for byte.
"""

from __future__ import annotations

import html as htmllib
import logging
import re
import threading
from functools import partial
from types import FunctionType
from typing import Any

import premailer.premailer
from lxml import etree  # type: ignore[import-untyped]  # lxml ships no types
from premailer import Premailer
from premailer.merge_style import merge_styles

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


KEPT_STYLES = 4096  # distinct merges and styles whose answers are kept

_merged: dict[tuple[Any, ...], str] = {}
_attributes: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}


def _kept_merge_styles(
    inline_style: str,
    new_styles: list[list[tuple[str, str]]],
    classes: list[str],
    remove_unset_properties: bool = False,
) -> str:
    """Return merge_styles(...), kept per arguments (it depends on nothing else)."""
    key = (inline_style, tuple(map(tuple, new_styles)), tuple(classes), remove_unset_properties)
    found = _merged.get(key)
    if found is None:
        found = merge_styles(inline_style, new_styles, classes, remove_unset_properties)
        with _lock:
            if len(_merged) >= KEPT_STYLES:
                _merged.clear()
            _merged[key] = found
    return found


def _transform_with(**names: Any) -> FunctionType:
    """Return Premailer.transform looking up these names in place of premailer's own.

    A copy of the function with its own globals: premailer itself, as any other code in the
    process uses it, is left as it is.
    """
    original = Premailer.transform
    return FunctionType(
        original.__code__,
        {**vars(premailer.premailer), **names},
        original.__name__,
        original.__defaults__,
        original.__closure__,
    )


# A selector of one element name or one class name: premailer finds its elements with an
# XPath query, one walk of the whole email per rule. _select finds them all in one walk.
SIMPLE_SELECTOR = re.compile(r"(?:[a-zA-Z][a-zA-Z0-9]*|\.-?[_a-zA-Z][_a-zA-Z0-9-]*)\Z")
XPATH_SPACE = re.compile(r"[ \t\r\n]+")  # what XPath's normalize-space() takes as space
_walked = threading.local()  # .page, .names, .classes: the last email walked in this thread


def _select(selector: str, page: Any) -> list[Any]:
    """Return CSSSelector(selector)(page) for a simple selector: the same elements, in
    document order (descendant-or-self::name, or a class among @class's words)."""
    if getattr(_walked, "page", None) is not page:
        names: dict[str, list[Any]] = {}
        classes: dict[str, list[Any]] = {}
        for element in page.iter(etree.Element):
            names.setdefault(element.tag, []).append(element)
            words = element.get("class")
            if words:
                for word in dict.fromkeys(XPATH_SPACE.split(words)):
                    if word:
                        classes.setdefault(word, []).append(element)
        _walked.page, _walked.names, _walked.classes = page, names, classes
    if selector.startswith("."):
        return list(_walked.classes.get(selector[1:], ()))
    return list(_walked.names.get(selector, ()))


def _rule_selector(selector: str) -> Any:
    """Return premailer's selector function for a rule's selector, a faster one if simple.

    premailer's first search, for <style> elements, comes before it changes the document
    and keeps its own way; the rules' selectors run on the document as it then stays.
    """
    if SIMPLE_SELECTOR.match(selector) and selector != "style":
        return partial(_select, selector)
    return premailer.premailer._create_cssselector(selector)


class _Premailer(Premailer):  # type: ignore[misc]  # premailer ships no types
    transform = _transform_with(merge_styles=_kept_merge_styles, _create_cssselector=_rule_selector)

    def _style_to_basic_html_attributes(
        self, element: Any, style_content: str, force: bool = False
    ) -> None:
        """Set what premailer sets, found once per style: with force (as transform calls
        it), which attributes it sets does not depend on the element's own."""
        if not force:
            return super()._style_to_basic_html_attributes(element, style_content, force)  # type: ignore[no-any-return]
        key = (style_content, tuple(self.disable_basic_attributes))
        found = _attributes.get(key)
        if found is None:
            blank = etree.Element("blank")
            super()._style_to_basic_html_attributes(blank, style_content, force)
            found = tuple(blank.attrib.items())
            with _lock:
                if len(_attributes) >= KEPT_STYLES:
                    _attributes.clear()
                _attributes[key] = found
        for name, value in found:
            element.attrib[name] = value
        return None

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


# The references html.unescape() could turn into a letter of "float", a backslash or
# nothing (a numeric one may stand for an invalid character). Of the named ones only
# &bsol; can (&fjlig; makes "fj", whose f no l follows).
REFERENCE = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|bsol;)")
FLOAT_LETTERS = frozenset("float\\")


def may_float(html: str, css: str) -> bool:
    """Return whether an element's style in html (once css is inlined) could set a float.

    Conservative: the word in any spelling, after HTML entities are decoded, or any
    backslash (a CSS escape could spell it). Only the references that could make one of
    its letters are decoded: any other is a character that is none of them, so the word
    is then in the decoded text only where it is in the text itself.
    """
    text = css + html
    if "\\" in text or "float" in text.lower():
        return True
    for reference in REFERENCE.finditer(text):
        decoded = htmllib.unescape(reference.group()).lower()
        if not decoded or not FLOAT_LETTERS.isdisjoint(decoded):
            return True
    return False


def inline(body: str, css: str) -> str:
    """Return premailer's transform of body (without a doctype) with css inlined."""
    try:
        return str(
            _Premailer(
                body, css_text=css, align_floating_images=may_float(body, css), **OPTIONS
            ).transform(pretty_print=False)
        )
    finally:
        _walked.page = None  # the next email is walked anew
