"""The build's short cuts give the bytes of the long way: premailer, header folding, dates."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
from pathlib import Path

import jinja2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from premailer import Premailer

from nyhetsbrev.build import headers, render
from nyhetsbrev.build.inliner import OPTIONS, inline, may_float
from nyhetsbrev.content.check import check
from nyhetsbrev.content.load import load

from .conftest import FIXTURES

IMG = '<html><head></head><body><p>Hej</p><img src="a.png" style="{style}"></body></html>'


def premailer_itself(body: str, css: str) -> str:
    """premailer as render used it before: every step, the float step too."""
    return Premailer(body, css_text=css, **OPTIONS).transform(pretty_print=False)


CASES = [
    ("width: 10px", "p { margin: 0; }"),
    ("width: 10px", "img { float: right; }"),
    ("FLOAT: left", "p { margin: 0; }"),
    ("fl&#111;at: left", "p { margin: 0; }"),
    ("width: 10px", "img { fl\\6f at: left; }"),
    ("fl&#92;6f at: left", "p { margin: 0; }"),  # a CSS escape, its backslash a reference
    ("fl&bsol;6f at: right", "p { margin: 0; }"),
    ("width: 10px", "a { color: red; } p:hover { color: blue; } @media (x) { p { a: b; } }"),
]


@pytest.mark.parametrize(("style", "css"), CASES)
def test_inlining_equals_premailer(style, css):
    body = IMG.format(style=style)
    assert inline(body, css) == premailer_itself(body, css)


STYLES = [
    "",
    "color: red",
    "background-color: #abc",
    "text-align: center; width: 10px",
    "vertical-align: top",
    "background-color: transparent",
    "margin: 0 !important",
]
CLASSES = ["", "x", "y", "x y", "button-link", "x\ty", "x\xa0y", " x ", "X", "-x", "x x"]
SHEETS = [
    "p { margin: 0; } .x { color: blue; background-color: #fff; }",
    ".y { text-align: left; } td { vertical-align: middle; } a:hover { color: red; }",
    "a { color: red !important; } .x { height: 5px; } span.y { background: #123 }",
    "P { color: red; } .X { color: blue; } .-x { margin: 0; } style { color: red; }",
    "* { color: red; } td > p { margin: 0; } .x.y { color: blue; } #i { color: green; }",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p", "td", "a", "span", "P", "!--"]),
            st.sampled_from(STYLES),
            st.sampled_from(CLASSES),
        ),
        max_size=12,
    ),
    st.sampled_from(SHEETS),
)
def test_kept_merges_and_attributes_equal_premailer(elements, css):
    cells = "".join(
        f"<!-- {cls} -->"
        if tag == "!--"
        else f'<{tag} class="{cls}" style="{style}" id="i">t</{tag}>'
        for tag, style, cls in elements
    )
    body = f"<html><head></head><body><table><tr><td>{cells}</td></tr></table></body></html>"
    for _ in range(2):  # the second time from the kept answers
        assert inline(body, css) == premailer_itself(body, css)


def test_a_float_gets_outlooks_align_attribute():
    body = IMG.format(style="width: 10px")
    assert may_float(body, "img { float: right; }")
    assert 'align="right"' in inline(body, "img { float: right; }")
    assert 'align="left"' in inline(IMG.format(style="float: left"), "")


def test_the_rules_kept_for_one_css_are_not_used_for_another():
    body = IMG.format(style="width: 10px").replace("<p>", '<p class="x">')
    first, second = "p { color: red; }", ".x { color: blue; } p { margin: 0; }"
    for css in (first, second, first, second):
        assert inline(body, css) == premailer_itself(body, css)


def test_the_built_message_is_the_standard_policys(monkeypatch):
    tree = load(FIXTURES / "basic")
    content, _ = check(tree)
    assert content is not None
    env = render.environment(None)
    issue = content.issues[0]
    html = render.compile_mjml(render.render_mjml(env, content, issue), render.email_css(env))
    text = render.render_text(env, content, issue)
    variants = [
        issue,
        dataclasses.replace(issue, title="Hösten är här: en rubrik som är lång " * 3),
        dataclasses.replace(issue, title="=?utf-8?q?H=C3=B6st?="),  # encoded-word look-alike
        dataclasses.replace(issue, title="Höst"),
        issue,
    ]

    def built() -> list[bytes]:
        return [
            msg.as_bytes() + msg.as_bytes(policy=msg.policy.clone(max_line_length=998))
            for msg in (render.message(content.site, v, html, text) for v in variants)
        ]

    ours = built() + built()  # the second time from the kept headers
    monkeypatch.setattr(headers, "SMTP", email.policy.SMTP)
    assert ours == built() + built()


def test_headers_kept_stay_within_bounds():
    policy = headers.SMTP
    for n in range(headers.KEPT + 10):
        policy.header_store_parse("Subject", f"Nummer {n}")
    assert len(headers._stored) <= headers.KEPT


def test_dates_in_swedish_stay_the_same_when_kept():
    day = dt.date(2022, 3, 14)
    assert render.datum(day) == render.datum(day) == "14 mars 2022"
    assert render.datum(dt.datetime(2022, 3, 14, 9)) == "14 mars 2022"
    assert render._swedish(day, "EEEE d MMMM y") == "måndag 14 mars 2022"  # not the kept one


def test_the_sandbox_keeps_its_answers_per_type_and_name():
    env = render.environment(None)
    template = env.from_string("{{ s.upper() }}{{ s.__class__ }}")
    for _ in range(2):  # the second time from the kept answers
        with pytest.raises(jinja2.exceptions.SecurityError):
            template.render(s="a")
    assert env.from_string("{{ s.upper() }}").render(s="a") == "A"
    for _ in range(2):
        with pytest.raises(jinja2.exceptions.SecurityError):
            env.from_string("{{ p.parent }}").render(p=Path("a/b"))


def test_a_kept_attribute_read_still_sandboxes_format():
    env = render.environment(None)
    template = env.from_string("{{ s.upper() }}{{ s.format(s) }}")
    assert env.is_safe_attribute("", "format", "".format)  # an answer kept for str.format too
    for _ in range(3):  # the later times with kept answers for str's attributes
        with pytest.raises(jinja2.exceptions.SecurityError):
            template.render(s="{0.__class__}")
    assert env.from_string("{{ s.format(1) }}{{ s.upper() }}").render(s="{0}") == "1{0}"


def link_phones_part_by_part(document: str) -> str:
    """The tel: linking as it was: every piece of text between tags tried on its own."""
    import re

    from nyhetsbrev.content.phones import EMERGENCY, NATIONAL, SKIP, TAG, _link

    parts = TAG.split(document)
    open_tags: dict[str, int] = dict.fromkeys(SKIP, 0)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
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


PIECES = [
    "<a href='x'>",
    "</a>",
    "<abbr>",
    "</abbr>",
    "<A>",
    "</ A>",
    "< a>",
    "<\u00a0a>",
    "<pre>",
    "</PRE>",
    "<p>",
    "</p>",
    "<!-- <a> -->",
    "<!--",
    "-->",
    '<img alt="<a">',
    "<",
    ">",
    "020-555 666",
    "08-123 456 78",
    "0771-11 11 00",
    "2022-05-12",
    "Ring 112",
    "ring 112.",
    "ring ",
    "112",
    " ",
    "x",
    "/",
    "-",
    ":",
    "0",
    "ſcript",
    "a0",
    ":0",
    "+",
    ".",
    "Ring",
    "RING 112",
    "bring 112",
    "<ſcript>",
    "<script>",
    "</script>",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_phone_links_equal_the_piece_by_piece_way(pieces):
    from nyhetsbrev.content.phones import link_phones

    document = "".join(pieces)
    assert link_phones(document) == link_phones_part_by_part(document)


def test_phone_links_in_a_built_email():
    from nyhetsbrev.content.phones import link_phones

    document = "<p>Ring 020-555 666</p><a href='t'>08-123 456 78</a><p>eller ring 112</p>"
    assert link_phones(document) == link_phones_part_by_part(document)
    assert link_phones(document).count("tel:") == 2


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["- ", "> ", "1. ", "  ", " ", "\t", "\xa0", "ord", "https://a.se/x", "\n"]
        ),
        max_size=40,
    ),
    st.integers(min_value=4, max_value=30),
)
def test_wrapping_equals_textwrap(pieces, width):
    from nyhetsbrev.content.markup import wrap

    text = "".join(pieces)
    assert wrap(text, width) == wrap(text, width, shortcut=False)


BODY_PIECES = ["a", "å", "=", " ", "\t", "\r", "\n", "\r\n", "\x00", "\x85", "\x0c", "€", "x" * 75]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(BODY_PIECES), max_size=60),
    st.integers(min_value=4, max_value=90),
)
def test_quoting_a_body_equals_the_email_package(pieces, width):
    from email import quoprimime

    body = "".join(pieces).encode("utf-8").decode("latin-1")
    assert headers.body_encode(body, width) == quoprimime.body_encode(body, width)


STAND_INS = [render.TEXT_STAND_IN, render.HTML_STAND_IN]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(BODY_PIECES + STAND_INS), max_size=40),
    st.lists(st.sampled_from(BODY_PIECES + STAND_INS + ["<p>", "</p>"]), max_size=40),
    st.sampled_from(["Höst", *STAND_INS, f"{render.HTML_STAND_IN}\r\n"]),
)
def test_the_message_as_bytes_equals_the_email_packages(text, html, title):
    tree = load(FIXTURES / "basic")
    content, _ = check(tree)
    assert content is not None
    issue = dataclasses.replace(content.issues[0], title=title)
    text, html = "".join(text), "".join(html)
    fast = render.message_bytes(content.site, issue, html, text)
    assert fast == render.message(content.site, issue, html, text).as_bytes()


def test_kept_text_filters_answer_as_the_filters_do():
    from nyhetsbrev.content.markup import wrap
    from nyhetsbrev.content.phones import dialable

    text = "Ring 020-50 50 50 " * 12
    for _ in range(2):  # the second time from the kept answers
        assert render._wrap(text) == wrap(text) and render._wrap(text, 30) == wrap(text, 30)
        assert render._dialable(text) == dialable(text)
    for kept, plain in ((render._wrap, wrap), (render._dialable, dialable)):
        with pytest.raises(Exception) as ours:
            kept(["ingen text"])
        with pytest.raises(Exception) as theirs:
            plain(["ingen text"])
        assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


WRAP_PIECES = [
    "- ",
    "> ",
    "1. ",
    "  ",
    " ",
    "\t",
    "\xa0",
    "\x1c",
    "ord",
    "x" * 9,
    "https://a.se/x",
    "\n",
]


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.sampled_from(WRAP_PIECES), max_size=50),
    st.integers(min_value=-1, max_value=30),
)
def test_fast_wrapping_equals_markups(pieces, width):
    from nyhetsbrev.content.markup import wrap

    text = "".join(pieces)
    try:
        expected = wrap(text, width)
    except ValueError:
        with pytest.raises(ValueError):
            render.wrap_text(text, width)
        return
    assert render.wrap_text(text, width) == expected


def test_fast_wrapping_fills_each_width_as_markup_does():
    from nyhetsbrev.content.markup import wrap

    text = "- Ring oss på 020-50 50 50 eller läs mer på https://www.example.se/stod i dag"
    for width in range(1, 90):
        assert render.wrap_text(text, width) == wrap(text, width)


MARKUP_PIECES = [
    *["<a", "<span", "<abbr", "<a-b", "<spanx", " ", "\t", "\xa0", ">", '"', "'", "x"],
    *[' bgcolor="#fff"', "bgcolor=", ' bgcolor="', "  bgcolor='x'", " style=", "style="],
    *[' style="a; b"', " style='c; d; e'", 'data-style="', "; ", ";", '"; "', "a:b; c:d"],
]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(MARKUP_PIECES), max_size=30))
def test_tight_styles_equal_the_regular_expressions(pieces):
    html = "".join(pieces)
    expected = render.STYLE_ATTRIBUTE.sub(lambda m: m.group(0).replace("; ", ";"), html)
    assert render.tight_styles(html) == expected


def may_float_by_decoding_all(html: str, css: str) -> bool:
    """may_float as it was: the whole text decoded, then searched."""
    import html as htmllib

    text = css + html
    return "\\" in text or "float" in htmllib.unescape(text).lower()


FLOAT_PIECES = [
    *["f", "l", "o", "a", "t", "F", "LOAT", "fl", "oat", "x", " ", ";", "&", "#"],
    *["&#102;", "&#X66;", "&#x6c", "&#1;", "&#0;", "&#847;", "&#128;", "&#xD800;", "&#65"],
    *["&fjlig;", "&fjlig", "&bsol;", "&amp;", "&amp", "&nbsp;", "&lowast;", "\\"],
]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(FLOAT_PIECES), max_size=12), st.sampled_from(["", "p{}"]))
@example(["fl", "&#1;", "oat"], "")
@example(["&#102;", "LOAT"], "")
@example(["&bsol;"], "")
def test_may_float_says_yes_whenever_decoding_all_finds_float(pieces, css):
    html = "".join(pieces)
    if may_float_by_decoding_all(html, css):
        assert may_float(html, css)
