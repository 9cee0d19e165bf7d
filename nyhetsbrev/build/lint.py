"""Lints on checked content and on the rendered email: the email rules a file can show.

Pure: checked content, rendered issues and the raw documents (for body lines) in, a list of
`Problem`s out. Every finding has a rule name; all are warnings except Gmail's clipping
limit, past which recipients lose the end of the message, unsubscribe link included.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable, Mapping

from nyhetsbrev.build.render import RenderedIssue
from nyhetsbrev.content.load import Document, Tree
from nyhetsbrev.content.markup import outline
from nyhetsbrev.content.models import Campaign, Content, Issue, Item
from nyhetsbrev.errors import ERROR, WARNING, Problem, shown

KB = 1024
EML_BUDGET = 60 * KB  # aim at 60 KB for 12 items, well under Gmail's clipping
GMAIL_CLIP = 102 * KB  # 104,448 bytes of HTML as sent; Gmail clips beyond it
STYLE_LIMIT = 16 * KB  # Gmail drops <style> blocks larger than this
PREHEADER = (40, 130)
GENERIC_LINK_TEXTS = {
    "här",
    "klicka här",
    "klicka",
    "tryck här",
    "läs mer",
    "läs mer här",
    "mer",
    "mer info",
    "mer information",
    "länk",
    "länken",
    "denna länk",
    "den här länken",
    "klicka på länken",
    "click here",
    "here",
    "read more",
    "more",
    "link",
}
GENERIC_ALTS = {
    "bild",
    "bilden",
    "foto",
    "fotot",
    "image",
    "img",
    "logo",
    "logotyp",
    "picture",
    "photo",
    "ikon",
    "icon",
    "illustration",
}
FILENAME = re.compile(
    r"^\S+\.(png|jpe?g|gif|webp|svg|bmp|tiff?)$|^(img|dsc|image)[_-]?\d+", re.IGNORECASE
)


def documents(tree: Tree) -> dict[str, Document]:
    """Return every document of the tree by its relative path."""
    docs = {d.path: d for d in tree.campaigns}
    for raw in tree.issues:
        docs.update({d.path: d for d in raw.items})
        if raw.doc is not None:
            docs[raw.doc.path] = raw.doc
    return docs


def body_lints(tree: Tree) -> list[Problem]:
    """Return the body findings of every document that could be read, checked or not.

    `check` stops at front-matter errors; these findings need only the Markdown, so they
    are reported in the same run (lint() reports them when the content checks).
    """
    problems: list[Problem] = []
    for doc in tree.campaigns:
        problems += body_findings(doc, base=2)
    for raw in tree.issues:
        if raw.doc is not None:
            problems += body_findings(raw.doc, base=1)
        for doc in raw.items:
            problems += body_findings(doc, base=3 if doc.meta.get("type") == "event" else 2)
    return problems


def lint(
    content: Content, rendered: Iterable[RenderedIssue], docs: Mapping[str, Document]
) -> list[Problem]:
    """Return every lint finding of the content and its rendered issues, sorted."""
    problems = [p for c in content.campaigns.values() for p in lint_campaign(c, docs)]
    for r in rendered:
        problems += lint_issue(r, docs, content.site.max_words)
    return sorted(problems)


def lint_campaign(campaign: Campaign, docs: Mapping[str, Document]) -> list[Problem]:
    """Return the findings of one campaign file: its logo's alt text and its standing text."""
    problems: list[Problem] = []
    if campaign.logo and campaign.logo_alt:
        problems += _alt(
            campaign.path, _key_line(docs, campaign.path, "logo_alt"), campaign.logo_alt
        )
    doc = docs.get(campaign.path)
    if doc is not None:
        problems += body_findings(doc, base=2)
    return problems


def lint_issue(r: RenderedIssue, docs: Mapping[str, Document], max_words: int) -> list[Problem]:
    """Return the findings of one issue: its files, its preheader and the built message."""
    issue = r.issue
    problems = _preheader(issue) + _size(issue, r)
    if not issue.items:
        problems.append(
            Problem(
                issue.path,
                1,
                "numret har inga texter: lägg till en med "
                f'`nyhetsbrev new item {issue.id} "Rubrik"`',
                WARNING,
                "empty-issue",
            )
        )
    if (doc := docs.get(issue.path)) is not None:
        problems += body_findings(doc, base=1)
    for item in issue.items:
        problems += lint_item(item, issue, docs.get(item.path), max_words)
    return problems


def lint_item(item: Item, issue: Issue, doc: Document | None, max_words: int) -> list[Problem]:
    """Return the findings of one item: dates, alt text, length, links and headings."""
    problems: list[Problem] = []
    if item.date.year != issue.year:
        problems.append(
            Problem(
                item.path,
                item.lines.get("date", 1),
                f"date {item.date} ligger utanför numrets år {issue.year}: kontrollera årtalet",
                WARNING,
                "date-year",
            )
        )
    if item.image and item.image_alt:
        problems += _alt(item.path, item.lines.get("image_alt", 1), item.image_alt)
    if doc is None:
        return problems
    words = len(re.sub(r"\(https?://\S+\)", "", item.body.text).split())
    if words > max_words:
        problems.append(
            Problem(
                item.path,
                doc.body_line,
                f"texten har {words} ord, fler än {max_words}: korta den "
                "eller länka till en längre version (gränsen ändras med [check] max_words i "
                "newsletter.toml)",
                WARNING,
                "long-item",
            )
        )
    return problems + body_findings(doc, base=3 if item.is_event else 2)


def _key_line(docs: Mapping[str, Document], path: str, key: str) -> int:
    doc = docs.get(path)
    return doc.line(key) if doc else 1


def _alt(path: str, line: int, alt: str) -> list[Problem]:
    text = alt.strip()
    if FILENAME.search(text):
        message = f'alt-texten "{shown(text)}" ser ut som ett filnamn: beskriv vad bilden visar'
    elif text.casefold().rstrip(".") in GENERIC_ALTS:
        message = f'alt-texten "{text}" säger inget om bilden: beskriv vad den visar'
    else:
        return []
    return [Problem(path, line, message, WARNING, "image-alt")]


def _preheader(issue: Issue) -> list[Problem]:
    text, line = issue.preheader.strip(), issue.lines.get("preheader", 1)
    low, high = PREHEADER
    where = "" if "preheader" in issue.lines else " (skriv en egen med preheader: i issue.md)"
    if len(text) < low:
        message = (
            f"preheadern har {len(text)} tecken, färre än {low}: skriv {low}–{high} "
            f"tecken om vad numret innehåller{where}"
        )
    elif len(text) > high:
        message = (
            f"preheadern har {len(text)} tecken, fler än {high}: inkorgen visar inte "
            f"resten; korta den{where}"
        )
    elif text.casefold() == issue.title.strip().casefold():
        message = "preheadern är samma som ämnesraden: skriv något som kompletterar rubriken"
    else:
        return []
    return [Problem(issue.path, line, message, WARNING, "preheader")]


def _kb(size: int) -> str:
    return f"{size / KB:.1f}".replace(".", ",") + " kB"


BOUNDARY = re.compile(rb'^Content-Type: multipart/alternative;\s+boundary="([^"\r\n]+)"\r?$', re.M)
HTML_PART = re.compile(rb"^Content-Type: text/html\b", re.M | re.I)


def html_size(eml: bytes) -> int:
    """Return the size of the HTML part as sent (after its transfer encoding), in bytes.

    A message as render.message() builds it (one multipart/alternative, CRLF lines) is
    measured where it lies; any other shape goes through the email parser.
    """
    head, _, _ = eml.partition(b"\r\n\r\n")
    found = BOUNDARY.search(head)
    if found is None or b"\r\n" not in eml[:200]:
        return _parsed_html_size(eml)
    parts = eml.split(b"\r\n--" + found.group(1))
    html = [p for p in parts[1:] if HTML_PART.search(p.partition(b"\r\n\r\n")[0])]
    if len(html) != 1 or len(parts) < 3 or not parts[-1].startswith(b"--"):
        return _parsed_html_size(eml)
    headers, blank, body = html[0].partition(b"\r\n\r\n")
    return len(body) if blank else _parsed_html_size(eml)


def _parsed_html_size(eml: bytes) -> int:
    msg = email.message_from_bytes(eml, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=False)
            if isinstance(payload, str):  # a list only for multipart parts
                return len(payload.encode("ascii", "replace"))
    return 0


def _size(issue: Issue, r: RenderedIssue) -> list[Problem]:
    problems: list[Problem] = []
    html = html_size(r.eml)
    if html > GMAIL_CLIP:
        problems.append(
            Problem(
                issue.path,
                1,
                f"mejlets HTML är {_kb(html)} när det skickas; Gmail klipper "
                "meddelanden över 102 kB och döljer slutet, avregistreringen också: korta "
                "texterna eller dela numret",
                ERROR,
                "gmail-clip",
            )
        )
    elif len(r.eml) > EML_BUDGET:
        problems.append(
            Problem(
                issue.path,
                1,
                f"mejlet är {_kb(len(r.eml))}, mer än gränsen 60 kB: korta "
                "texterna eller flytta några till nästa nummer",
                WARNING,
                "size",
            )
        )
    style = sum(len(s) for s in re.findall(r"<style[^>]*>(.*?)</style>", r.html, re.S))
    if style > STYLE_LIMIT:
        problems.append(
            Problem(
                issue.path,
                1,
                f"mejlets <style> är {_kb(style)}; Gmail tar bort stilar över "
                "16 kB: förenkla mallens CSS",
                WARNING,
                "size",
            )
        )
    return problems


def body_findings(doc: Document, base: int) -> list[Problem]:
    """Return link-text, image-alt and heading findings of a Markdown body.

    base is the heading level the body sits under in the email (h1 for an issue's intro,
    h2 for a news item, h3 for an event), so its own headings start one level deeper.
    """
    problems: list[Problem] = []
    previous = base
    for offset, level, inlines in outline(doc.body):  # parsed once, by check
        line = doc.body_line + offset
        if level:
            problems += _heading(doc.path, line, level, base, previous)
            previous = max(level, base + 1)  # after a too-big heading, go on as if corrected
        for delta, kind, text, target in inlines:
            child_line = line + delta
            if kind == "link" and _normal(text) in GENERIC_LINK_TEXTS:
                problems.append(
                    Problem(
                        doc.path,
                        child_line,
                        f'länktexten "{shown(text.strip())}" säger inte vart länken '
                        "leder: låt länktexten säga vad läsaren hittar där, t.ex. "
                        '"programmet för konferensen"',
                        WARNING,
                        "link-text",
                    )
                )
            elif kind == "image" and not text.strip():
                problems.append(
                    Problem(
                        doc.path,
                        child_line,
                        f'bilden "{shown(target)}" saknar alt-text: beskriv vad den '
                        f"visar inom hakparenteserna, ![Vad bilden visar]({shown(target)})",
                        WARNING,
                        "image-alt",
                    )
                )
            elif kind == "image":
                problems += _alt(doc.path, child_line, text)
    return problems


def _heading(path: str, line: int, level: int, base: int, previous: int) -> list[Problem]:
    hashes = "#" * (base + 1)
    if level <= base:
        message = (
            f"rubriken på nivå {level} ({'#' * level}) är lika stor som eller större än "
            f"rubriken den står under (h{base}): använd {hashes}"
        )
    elif level > previous + 1:
        message = (
            f"rubriken hoppar från nivå {previous} till {level}: hoppa inte över "
            f"nivåer, använd {'#' * (previous + 1)}"
        )
    else:
        return []
    return [Problem(path, line, message, WARNING, "heading-order")]


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" .:!»›→>…").casefold()
