"""Markdown -> sanitized HTML with absolute URLs, plain text, and the local files it uses.

Raw HTML in Markdown is allowed but cleaned by nh3 to a small allow-list: no script, no
event handlers, no `javascript:` or `file:` URLs, in every output. Relative links and
images resolve against the Markdown file's folder; the files they name are returned as
assets so the writer can copy them next to the issue.
"""

from __future__ import annotations

import posixpath
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from nyhetsbrev.content.load import image_size, starts_like
from nyhetsbrev.content.models import Asset, Markup
from nyhetsbrev.errors import ERROR, WARNING, Problem, shown

TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "em",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width"},
    "th": {"scope"},
    "td": {"colspan", "rowspan"},
    "abbr": {"title"},
}
SCHEMES = {"https", "http", "mailto", "tel"}
UNSAFE = re.compile(
    r"<\s*(script|iframe|object|embed|form|style)\b|\son\w+\s*=|javascript:|"
    r"vbscript:|data:text/html",
    re.IGNORECASE,
)


# A web address written without its scheme, as a browser's address bar shows it:
# "www.example.se/anmalan", "example.se" or "kommun.se/sida". A file beside the text with
# the same name wins; a bare "bilaga.pdf" is a file name, so the part before the first "/"
# must start with www. or end in a top-level domain that is not a file type.
WEB_ADDRESS = re.compile(
    r"^(www\.[^/\s]+\.[a-z]{2,}|[a-z0-9-]+(\.[a-z0-9-]+)*\.(se|nu|com|org|net|eu|info|"
    r"gov|edu|dk|no|fi|is|de|uk|io))(/|$)",
    re.IGNORECASE,
)
HIDDEN_OPEN = re.compile(r"<\s*(script|style)\b[^>]*>", re.IGNORECASE)  # "<script/>" opens, too

# The only files that are published next to an issue: inert types, recognised by their
# first bytes as well as their name. SVG and HTML can run scripts on the archive's origin,
# and no well-kept SVG sanitiser exists for Python, so they are refused like every other type.
PUBLISHABLE: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".png": ("PNG-bild", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("JPEG-bild", (b"\xff\xd8\xff",)),
    ".jpeg": ("JPEG-bild", (b"\xff\xd8\xff",)),
    ".gif": ("GIF-bild", (b"GIF87a", b"GIF89a")),
    ".webp": ("WebP-bild", (b"RIFF",)),  # and "WEBP" at offset 8, checked below
    ".pdf": ("PDF", (b"%PDF-",)),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
EMAIL_IMAGE_MAX = 1_000_000  # bytes; a bigger image makes the email slow on a phone
MAX_NESTING = 100  # elements inside each other; far deeper nesting crashes the MJML compiler
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
VOID = {"br", "hr", "img", "wbr", "input", "meta", "link", "area", "base", "col", "source"}


@dataclass(frozen=True)
class Place:
    """Where a Markdown text lives: for messages, and to resolve its relative links."""

    path: str  # the Markdown file, relative to the root
    first_line: int  # line of the text's first line in that file
    folder_url: str  # absolute public URL of the output folder of its files, no trailing /
    target_folder: str  # that folder relative to the output root ("" for the root)
    source_folder: Path  # the folder on disk
    files: dict[str, int]  # files in source_folder: relative name -> size
    base_url: str
    root: Path | None = None  # the content root: no file outside it is ever published


class _AnyLink(MarkdownIt):
    """A parser that keeps every link: nh3 decides which schemes survive."""

    def validateLink(self, url: str) -> bool:
        """Return True for every URL."""
        return True


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    md = _AnyLink("commonmark", {"html": True, "typographer": False})
    md.enable(["table", "strikethrough"])
    return md


@dataclass
class _Resolver:
    place: Place
    text: str
    problems: list[Problem] = field(default_factory=list)
    assets: dict[str, Asset] = field(default_factory=dict)

    def line_of(self, needle: str) -> int:
        """Return the file line of the first body line that contains needle."""
        for wanted in dict.fromkeys((needle, unquote(needle))):  # links arrive encoded
            for number, line in enumerate(self.text.split("\n")):
                if wanted in line:
                    return self.place.first_line + number
        return self.place.first_line

    def __call__(self, element: str, attribute: str, value: str) -> str | None:
        if attribute not in ("href", "src"):
            return value
        return self.resolve(value, in_email=element == "img")

    def resolve(self, url: str, in_email: bool = False) -> str | None:
        """Return the absolute URL for url, copying local files; None drops the attribute."""
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme.lower() == "http":
            self.problem(
                url,
                f'adressen "{shown(url)}" börjar med http://, som inte är krypterad: '
                "skriv https:// om webbplatsen har det",
                severity=WARNING,
                rule="http-link",
            )
        if parts.scheme:
            return url if parts.scheme.lower() in SCHEMES else None
        if url.startswith("//"):
            return "https:" + url
        if url.startswith("/"):
            return self.place.base_url + url
        if url.startswith("#"):
            return f"{self.place.folder_url}/{url}"
        return self.local(url, parts.path, url[len(parts.path) :], in_email)

    def problem(self, url: str, message: str, rule: str = "", severity: str = ERROR) -> None:
        """Add a problem on the line that names url."""
        line = self.line_of(url)
        self.problems.append(Problem(self.place.path, line, message, severity, rule))

    def local(self, url: str, path: str, rest: str, in_email: bool = False) -> str | None:
        # Markdown links arrive percent-encoded ("bild-%C3%A5.png"); files have plain names.
        name = posixpath.normpath(unquote(path))
        if name.startswith(("../", "/")) or name == "..":
            self.problem(
                url,
                f'"{shown(url)}" pekar utanför mappen: lägg filen bredvid texten',
            )
            return None
        if name not in self.place.files and WEB_ADDRESS.match(path):
            self.problem(
                url,
                f'"{shown(url)}" ser ut som en webbadress: skriv den med https:// först, '
                f'"https://{shown(url)}"',
                rule="missing-https",
            )
            return None
        source = self.place.source_folder / name
        if name not in self.place.files:
            # Not listed: perhaps behind a link to a folder outside the tree, or of a type
            # that is never published; say so rather than that it is missing.
            if source.exists() and not self.publishable(url, name, source):
                return None
            self.problem(
                url,
                f'filen "{shown(unquote(url))}" finns inte i '
                f"{posixpath.dirname(self.place.path) or '.'}/",
                rule="missing-file",
            )
            return None
        if not self.publishable(url, name, source):
            return None
        size = self.place.files[name]
        if in_email and posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES:
            self.warn_size(url, name, size)
        target = posixpath.join(self.place.target_folder, name)
        address = f"{self.place.folder_url}/{quote(name)}"
        self.assets[name] = Asset(source, target, address, size)
        return f"{address}{rest}"

    def publishable(self, url: str, name: str, source: Path) -> bool:
        """Return whether source may be published; add the reason to problems if not."""
        root = self.place.root
        if root is not None:
            try:
                inside = source.resolve(strict=True).is_relative_to(root.resolve())
            except (OSError, RuntimeError):  # a dangling or looping link
                inside = False
            if not inside:
                self.problem(
                    url,
                    f'"{name}" är en länk till en fil utanför innehållets mapp och publiceras '
                    "inte: lägg en kopia av filen bredvid texten",
                    rule="outside-root",
                )
                return False
        suffix = posixpath.splitext(name)[1].lower()
        kind = PUBLISHABLE.get(suffix)
        if kind is None:
            self.problem(
                url,
                f'filen "{name}" får inte publiceras: bara bilder (png, jpg, gif, webp) och '
                "pdf får länkas, eftersom andra filtyper (som svg och html) kan köra skript "
                "på webbplatsen",
                rule="file-type",
            )
            return False
        if not starts_like(source, PUBLISHABLE[suffix][1], suffix):
            self.problem(
                url,
                f'filen "{name}" är ingen riktig {kind[0]}: innehållet stämmer inte med '
                f"filändelsen {suffix}",
                rule="file-type",
            )
            return False
        return True

    def warn_size(self, url: str, name: str, size: int) -> None:
        """Warn when an image shown in the email is too big for a phone on a slow network."""
        if size > EMAIL_IMAGE_MAX:
            megabytes = f"{size / EMAIL_IMAGE_MAX:.1f}".replace(".", ",")
            self.problem(
                url,
                f'bilden "{name}" är {megabytes} MB; en bild i ett e-brev bör vara under '
                "1 MB: spara den i lägre upplösning",
                rule="image-size",
                severity=WARNING,
            )


def resolve_url(url: str, place: Place) -> tuple[str | None, Asset | None, list[Problem]]:
    """Resolve one front-matter URL or path the way Markdown links are resolved."""
    resolver = _Resolver(place, url)
    absolute = resolver.resolve(url, in_email=True)
    asset = next(iter(resolver.assets.values()), None)
    return absolute, asset, resolver.problems


Inline = tuple[int, str, str, str]  # line offset in its block, "link"/"image", text, target
Outline = tuple[tuple[int, int, tuple[Inline, ...]], ...]  # (line offset, heading level, inlines)
_OUTLINES: dict[str, Outline] = {}
OUTLINES_KEPT = 20_000  # texts; a few hundred bytes each, so a few MB at most


def outline(text: str, tokens: list[Token] | None = None) -> Outline:
    """Return the headings, links and images of a Markdown text, for lint.

    render_markdown() keeps each text's outline as it parses, so lint reads the bodies
    without parsing them a second time; a text it has not seen is parsed here.
    """
    found = _OUTLINES.get(text)
    if found is None:
        found = _outline(parser().parse(text) if tokens is None else tokens)
        if len(_OUTLINES) < OUTLINES_KEPT:
            _OUTLINES[text] = found
    return found


def outlines(texts: Iterable[str]) -> dict[str, Outline]:
    """Return the outlines kept of these texts (those render_markdown() parsed here)."""
    return {text: found for text in texts if (found := _OUTLINES.get(text)) is not None}


def keep_outlines(found: dict[str, Outline]) -> None:
    """Keep outlines another process made (outlines()), as render_markdown() keeps its own."""
    for text, parsed in found.items():
        if len(_OUTLINES) >= OUTLINES_KEPT:
            return
        _OUTLINES[text] = parsed


def _outline(tokens: list[Token]) -> Outline:
    blocks = []
    for block in tokens:
        level = int(block.tag[1]) if block.type == "heading_open" else 0
        inlines = tuple(_inlines(block))
        if level or inlines:
            blocks.append((block.map[0] if block.map else 0, level, inlines))
    return tuple(blocks)


def _inlines(block: Token) -> Iterator[Inline]:
    """Yield (line offset, "link" or "image", text, target) for a block's links and images."""
    if not block.children:
        return
    line = 0
    link: tuple[int, str, list[str]] | None = None
    for child in block.children:
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        elif child.type == "link_open":
            link = (line, str(child.attrGet("href") or ""), [])
        elif child.type == "link_close" and link is not None:
            yield link[0], "link", "".join(link[2]), link[1]
            link = None
        elif child.type in ("text", "code_inline") and link is not None:
            link[2].append(child.content)
        elif child.type == "image":
            yield line, "image", child.content, str(child.attrGet("src") or "")


def render_markdown(text: str, place: Place) -> tuple[Markup, list[Problem]]:
    """Return the Markdown text as sanitized HTML and plain text, and its problems."""
    md = parser()
    tokens = md.parse(text)
    outline(text, tokens)
    resolver = _Resolver(place, text)
    for token in tokens:
        if token.type in ("html_block", "html_inline") or (
            token.children and any(c.type == "html_inline" for c in token.children)
        ):
            _warn_unsafe(token, place, resolver.problems)
    for block in tokens:
        for token in block.children or ():
            if token.type not in ("link_open", "image"):
                continue
            attr = "href" if token.type == "link_open" else "src"
            url = str(token.attrGet(attr) or "")
            if not _safe_scheme(url):
                resolver.problems.append(_removed(place, block, f'osäker länk "{url[:40]}"'))
    html = md.renderer.render(tokens, md.options, {})
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        attribute_filter=resolver,
        link_rel=None,
        strip_comments=True,
    )
    # No deeper than its number of tags: most texts are spared counting the depth.
    if clean.count("<") > MAX_NESTING and _nesting(clean) > MAX_NESTING:
        resolver.problems.append(
            Problem(
                place.path,
                place.first_line + _deepest_line(text),
                f"texten har fler än {MAX_NESTING} element inuti varandra "
                "(t.ex. <b><b><b>…): förenkla formateringen",
                rule="nesting",
            )
        )
        clean = nh3.clean(clean, tags=set())  # keep the words; the error stops the build
    plain = to_text(tokens, resolver)
    first = next((b for b in plain.split("\n\n") if b and not b.startswith(("- ", "> "))), "")
    markup = Markup(clean.strip(), plain, _unlink(first), tuple(resolver.assets.values()))
    return markup, list(dict.fromkeys(resolver.problems))


def _opened(chunks: Iterable[str]) -> Iterator[tuple[int, int]]:
    """Yield (chunk number, depth) at each opening tag; the depth carries across chunks."""
    depth = 0
    for number, chunk in enumerate(chunks):
        for match in TAG.finditer(chunk):
            closing, name, self_closing = match.groups()
            if closing:
                depth = max(0, depth - 1)
            elif not self_closing and name.lower() not in VOID:
                depth += 1
                yield number, depth


def _nesting(html: str) -> int:
    """Return how deeply the elements of well-formed html are nested."""
    return max((depth for _, depth in _opened([html])), default=0)


def _deepest_line(text: str) -> int:
    """Return the 0-based line of text where its raw tags first nest too deeply."""
    for number, depth in _opened(text.split("\n")):
        if depth > MAX_NESTING:
            return number
    # Nesting made by Markdown itself (emphasis in emphasis): the line richest in markup.
    lines = text.split("\n")
    return max(range(len(lines)), key=lambda n: sum(map(lines[n].count, "*_>[")))


def _safe_scheme(url: str) -> bool:
    scheme = urlsplit(url.strip()).scheme.lower()
    return not scheme or scheme in SCHEMES


def _line(token: Token) -> int | None:
    return token.map[0] if token.map else None


def _removed(place: Place, token: Token, what: str) -> Problem:
    """Return the warning that what, unsafe, was removed from the block token."""
    line = place.first_line + (_line(token) or 0)
    return Problem(place.path, line, f"{what} togs bort", WARNING, "unsafe-html")


def _warn_unsafe(token: Token, place: Place, problems: list[Problem]) -> None:
    sources = [token.content] + [c.content for c in token.children or () if c.type == "html_inline"]
    for source in sources:
        match = UNSAFE.search(source)
        if match:
            problems.append(_removed(place, token, f'osäker HTML "{match.group(0).strip()}"'))
            return


def _unlink(text: str) -> str:
    """Drop the '(URL)' parts that to_text adds after link texts."""
    return re.sub(r" \(https?://[^)\s]+\)", "", text)


def to_text(tokens: list[Token], resolver: _Resolver) -> str:
    """Return Markdown tokens as plain text: blocks separated by blank lines, links as URLs."""
    blocks: list[str] = []
    prefixes: list[str] = []
    numbers: list[int | None] = []
    for token in tokens:
        if token.type == "bullet_list_open":
            numbers.append(None)
        elif token.type == "ordered_list_open":
            numbers.append(int(token.attrGet("start") or 1))
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
        elif token.type == "blockquote_open":
            prefixes.append("> ")
        elif token.type == "blockquote_close":
            prefixes.pop()
        elif token.type == "list_item_open":
            if numbers[-1] is None:
                marker = "- "
            else:
                marker = f"{numbers[-1]}. "
                numbers[-1] += 1
            prefixes.append(marker)
        elif token.type == "list_item_close":
            prefixes.pop()
        elif token.type == "inline":
            text = _inline_text(token.children or [], resolver)
            blocks.append("".join(prefixes) + text)
            prefixes = [p if p.startswith(">") else "  " for p in prefixes]
        elif token.type in ("code_block", "fence"):
            blocks.append(token.content.rstrip("\n"))
        elif token.type == "html_block":
            stripped = nh3.clean(token.content, tags=set()).strip()
            if stripped:
                blocks.append(stripped)
        elif token.type == "hr":
            blocks.append("----")
    return _join(blocks)


def _join(blocks: list[str]) -> str:
    """Join blocks with blank lines, but keep the items of one list together."""
    out: list[str] = []
    previous_is_item = False
    for block in blocks:
        is_item = bool(re.match(r"(> )*(\s*- |\s*\d+\. |  )", block))
        if out and not (is_item and previous_is_item):
            out.append("")
        out.append(block)
        previous_is_item = is_item
    return "\n".join(out)


def _inline_text(children: list[Token], resolver: _Resolver) -> str:
    parts: list[str] = []
    hrefs: list[tuple[str | None, int]] = []
    hidden = ""  # inside an inline <script> or <style>, whose content nh3 drops from the HTML
    for child in children:
        if child.type == "html_inline":
            opening = HIDDEN_OPEN.match(child.content)
            if opening and not hidden:
                hidden = opening.group(1).lower()
            elif hidden and re.match(rf"</\s*{hidden}\s*>", child.content, re.IGNORECASE):
                hidden = ""
        elif hidden:
            continue
        elif child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "link_open":
            href = str(child.attrGet("href") or "")
            hrefs.append((resolver.resolve(href) if _safe_scheme(href) else None, len(parts)))
        elif child.type == "link_close" and hrefs:
            url, start = hrefs.pop()
            label = "".join(parts[start:])
            if url and url != label and not url.startswith("mailto:"):
                parts.append(f" ({url})")
        elif child.type == "image":
            parts.append(child.content and f"[Bild: {child.content}]")
    return "".join(parts).strip()


def image_width(path: Path) -> int | None:
    """Return the pixel width of a PNG, GIF or JPEG file from its header, or None."""
    size = image_size(path)
    return size[0] if size else None


def scaled_height(size: tuple[int, int] | None, width: int) -> int | None:
    """Return the height of an image of size shown width pixels wide, or None if unknown."""
    if not size or not size[0]:
        return None
    return max(1, round(size[1] * width / size[0]))


IMG = re.compile(r"<img\b([^>]*)>")


def sized_images(html: str, assets: tuple[Asset, ...], max_width: int) -> str:
    """Return html whose <img> tags all carry an integer width (at most max_width).

    Email clients (Outlook above all) need the width attribute; the height, where the file
    tells it, keeps the image's place while images are blocked; the style keeps a wide
    image inside a phone's screen.
    """
    sizes = {a.url: size for a in assets if (size := image_size(a.source))}

    def fix(match: re.Match[str]) -> str:
        attrs = match.group(1)
        src = re.search(r'\ssrc="([^"]*)"', attrs)
        size = sizes.get(src.group(1) if src else "")
        given = re.search(r'\swidth="?(\d+)', attrs)
        if given:
            height = scaled_height(size, int(given.group(1)))
            if height is None or re.search(r"\sheight=", attrs):
                return match.group(0)
            return f'<img{attrs} height="{height}">'
        width = min(size[0] if size else max_width, max_width)
        height = scaled_height(size, width)
        tall = f' height="{height}"' if height else ""
        style = "max-width:100%;height:auto;"
        return f'<img{attrs} width="{width}"{tall} style="{style}">'

    return IMG.sub(fix, html)


def wrap(text: str, width: int = 78, shortcut: bool = True) -> str:
    """Wrap plain text to width, keeping list markers as hanging indents and URLs whole.

    shortcut=False sends every line through textwrap (the tests compare the two).
    """
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            out.append("")
            continue
        # Optional parts only, so it matches every line (possibly with an empty lead).
        match = re.match(r"(?:> )*(?:\s*(?:- |\d+\. ))?", line)
        lead = match.group() if match else ""
        body = line[len(lead) :]
        if shortcut and len(line) <= width and body.isprintable() and body.strip(" ") == body != "":
            out.append(line)  # what textwrap returns for a line that fits, without its work
            continue
        indent = re.sub(r"[^>\s]", " ", lead)
        out.extend(
            textwrap.wrap(
                body,
                width=width,
                initial_indent=lead,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [lead]
        )
    return "\n".join(out)
