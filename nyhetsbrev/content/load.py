"""Files -> raw documents: front matter with line numbers, Markdown bodies, asset listings.

Only this module reads the content tree. It decodes UTF-8 (a BOM is accepted), turns CRLF
into LF and parses YAML with every scalar kept as text, so that `no` stays "no" and dates
are checked by `check`, which gets the line of every key and list element.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from nyhetsbrev.errors import Problem, shown

CONFIG = "newsletter.toml"
YEAR = re.compile(r"^\d{4}$")
# What editors and operating systems leave beside files: never content, never published.
# Dot-files (.#lock, .DS_Store, .x.swp), backups (x~), autosaves (#x#), Thumbs.db.
LEFTOVER = re.compile(
    r"^\.|~$|^#.*#$|\.(swp|swo|swx)$|^(Thumbs|ehthumbs)\.db$|^desktop\.ini$",
    re.IGNORECASE,
)
NBSP = "\u00a0"  # between thousands: 49 990
MAX_LINES_PER_FILE = 10  # control-character findings reported one by one in a file
# Control characters (all but tab and newline) break MRML, XML feeds and mail clients.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


@dataclass(frozen=True)
class Document:
    """One Markdown file: its front matter as text values, with lines, and its body."""

    path: str  # relative to the root, POSIX
    meta: dict[str, Any]
    lines: dict[str, int]  # "key" and "key.N" (list element N) -> line in the file
    body: str
    body_line: int  # line of the body's first line in the file

    def line(self, key: str, index: int | None = None) -> int:
        """Return the line of a key (or of one of its list elements), else of the front matter."""
        if index is not None and f"{key}.{index}" in self.lines:
            return self.lines[f"{key}.{index}"]
        return self.lines.get(key, 1)


@dataclass(frozen=True)
class RawIssue:
    id: str
    year: str
    folder: Path
    doc: Document | None  # None when issue.md is missing or unreadable
    items: tuple[Document, ...]
    files: dict[str, int]  # other files in the folder (relative POSIX name -> size)
    slugs: frozenset[str] = frozenset()  # every item file's name, readable or not


@dataclass(frozen=True)
class Tree:
    root: Path
    config: str | None  # the text of newsletter.toml, None if missing
    campaigns: tuple[Document, ...]
    campaign_files: dict[str, int]
    issues: tuple[RawIssue, ...]
    templates: Path | None
    problems: tuple[Problem, ...] = field(default=())


ReadIssue = Callable[[Path, Path, list[Problem]], RawIssue]
# Runs function(0), …, function(count - 1) and yields the results in that order, perhaps
# in other processes (nyhetsbrev.build.parallel.each): load and check hand it the work of
# each issue folder, which then must not change anything in this process but its result.
Each = Callable[[Callable[[int], Any], int], Iterable[Any]]


def leftover(name: str) -> bool:
    """Return True for a name an editor or the operating system left: never content."""
    return bool(LEFTOVER.search(name))


def markdown_files(folder: Path) -> list[Path]:
    """Return the Markdown files of folder, sorted, without editors' and systems' leftovers."""
    if not folder.is_dir():
        return []
    return [
        p
        for p in sorted(folder.glob("*.md"))
        if not leftover(p.name) and p.is_file()  # is_file follows a symlink; dangling: False
    ]


def issue_folders(root: Path) -> list[Path]:
    """Return every folder newsletters/YEAR/ID, sorted, leftovers and dot-folders skipped."""
    return [
        folder
        for year in sorted((root / "newsletters").glob("*"))
        if year.is_dir() and not leftover(year.name)
        for folder in sorted(year.iterdir())
        if folder.is_dir() and not leftover(folder.name)
    ]


def read_config(root: Path) -> tuple[str | None, list[Problem]]:
    """Return the text of newsletter.toml, or None and the one problem saying why not.

    The only reader of the settings file: every command gets the same message for a
    missing file or one that is not UTF-8.
    """
    path = root / CONFIG
    if not path.is_file():
        return None, [
            Problem(
                CONFIG,
                1,
                f"{CONFIG} saknas i {root}: ange rätt mapp med --root "
                "eller skapa filen (se README)",
            )
        ]
    problems: list[Problem] = []
    return _read_text(root, path, problems), problems


def load(
    root: Path, around: Callable[[ReadIssue], ReadIssue] | None = None, each: Each | None = None
) -> Tree:
    """Read the whole content tree under root; unreadable files become problems.

    around, if given, wraps the read of each issue folder (the build's memo of them); each,
    if given, reads the issue folders (on several cores), giving the same tree.
    """
    root = root.resolve()
    read = read_issue if around is None else around(read_issue)
    config, problems = read_config(root)
    campaign_dir = root / "campaigns"
    campaigns = tuple(
        doc
        for path in markdown_files(campaign_dir)
        if (doc := read_document(root, path, problems)) is not None
    )
    folders = issue_folders(root)
    if each is None:
        issues = tuple(read(root, folder, problems) for folder in folders)
    else:

        def read_one(n: int) -> tuple[RawIssue, list[Problem]]:
            found: list[Problem] = []
            return read(root, folders[n], found), found

        read_ones = list(each(read_one, len(folders)))
        issues = tuple(raw for raw, _ in read_ones)
        problems += [p for _, found in read_ones for p in found]  # in the folders' order
    templates = root / "templates"
    return Tree(
        root=root,
        config=config,
        campaigns=campaigns,
        campaign_files=_files(campaign_dir),
        issues=issues,
        templates=templates if templates.is_dir() else None,
        problems=tuple(problems),
    )


def read_issue(root: Path, folder: Path, problems: list[Problem]) -> RawIssue:
    plain = _plain_folder(root, folder)
    if plain is None:
        return _read_issue(root, folder, problems)
    where, names, files = plain
    first = ["issue.md"] if "issue.md" in names else []  # read first, as _read_issue does
    docs = {
        name: _read_document(root, folder / name, problems, f"{where}/{name}")
        for name in first + [name for name in names if name != "issue.md"]
    }
    items = tuple(item for name, item in docs.items() if name != "issue.md" and item is not None)
    slugs = frozenset(name[:-3] for name in names if name != "issue.md")
    doc = docs.get("issue.md")
    return RawIssue(folder.name, folder.parent.name, folder, doc, items, files, slugs)


def _plain_folder(root: Path, folder: Path) -> tuple[str, list[str], dict[str, int]] | None:
    """Return what _read_issue finds in a folder of plain files inside root, in one listing.

    That is: the folder relative to root, the names of its Markdown files (markdown_files)
    and its other files with their sizes (_files). None for a folder holding a link or a
    subfolder, or lying outside root: _read_issue's general way.
    """
    try:
        real = folder.resolve()
        if real == root or not real.is_relative_to(root):
            return None
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
        names: list[str] = []
        files: dict[str, int] = {}
        for entry in entries:
            if entry.is_symlink() or entry.is_dir():
                return None
            name = entry.name
            if leftover(name) or not entry.is_file():
                continue
            if name.endswith(".md"):  # ".md" alone is a dot-file, a leftover
                names.append(name)
            else:
                files[name] = entry.stat().st_size
    except OSError:
        return None
    return real.relative_to(root).as_posix(), names, files


def _read_issue(root: Path, folder: Path, problems: list[Problem]) -> RawIssue:
    issue_md = folder / "issue.md"
    doc = read_document(root, issue_md, problems) if issue_md.is_file() else None
    paths = [p for p in markdown_files(folder) if p.name != "issue.md"]
    items = tuple(
        item for path in paths if (item := read_document(root, path, problems)) is not None
    )
    slugs = frozenset(p.stem for p in paths)
    return RawIssue(folder.name, folder.parent.name, folder, doc, items, _files(folder), slugs)


def _files(folder: Path) -> dict[str, int]:
    """Return the non-Markdown files under folder with their sizes."""
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix != ".md"
        and not any(leftover(part) for part in p.relative_to(folder).parts)
    }


def relative(root: Path, path: Path) -> str:
    """Return path relative to root, POSIX style, for messages."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _read_text(root: Path, path: Path, problems: list[Problem], inside: bool = False) -> str | None:
    """Return the file's text, or None with the problem; inside: known to lie inside root."""
    if not inside and not path.resolve().is_relative_to(root.resolve()):  # a link leads out
        where = path.relative_to(root) if path.is_relative_to(root) else path
        problems.append(
            Problem(
                where.as_posix(),
                1,
                "filen är en länk till en fil utanför innehållets mapp och läses inte: "
                "lägg själva filen här",
                rule="outside-root",
            )
        )
        return None
    try:
        raw = path.read_bytes()
    except OSError as e:  # removed meanwhile, no permission, a folder named x.md ...
        problems.append(
            Problem(relative(root, path), 1, f"filen går inte att läsa ({e.strerror or e})")
        )
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        problems.append(
            Problem(
                relative(root, path),
                line,
                f"filen är inte UTF-8 (byte 0x{raw[e.start]:02x}); spara den som UTF-8",
            )
        )
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_document(root: Path, path: Path, problems: list[Problem]) -> Document | None:
    """Read one Markdown file with front matter, or record why it cannot be read."""
    return _read_document(root, path, problems)


def _read_document(
    root: Path, path: Path, problems: list[Problem], rel: str | None = None
) -> Document | None:
    """Read one Markdown file; rel, if given, is its path relative to root (resolved), and
    says that it is a file inside root that no link leads to (read_issue knows it from the
    folder's listing; read_document resolves the path to find out)."""
    text = _read_text(root, path, problems, inside=rel is not None)
    if text is None:
        return None
    if rel is None:
        rel = relative(root, path)
    found = (
        [
            Problem(
                rel,
                number,
                f"tecknet U+{ord(m.group()):04X} i kolumn {m.start() + 1} är ett "
                "osynligt styrtecken som e-postprogram och flöden inte tål: ta bort det",
            )
            for number, line in enumerate(text.split("\n"), 1)
            if (m := CONTROL.search(line))
        ]
        if CONTROL.search(text)  # one pass over the file; line by line only when needed
        else []
    )
    if len(found) > MAX_LINES_PER_FILE:  # one line per line of a binary file helps nobody
        rest = len(found) - MAX_LINES_PER_FILE
        found = found[:MAX_LINES_PER_FILE] + [
            Problem(
                rel,
                found[MAX_LINES_PER_FILE].line,
                f"samma slags tecken finns på {f'{rest:,}'.replace(',', NBSP)} rader till: "
                "är det här en textfil?",
            )
        ]
    problems += found
    return None if found else parse_document(rel, text, problems)


def parse_yaml(source: str) -> tuple[yaml.Node | None, Any]:
    """Return the YAML's node tree (for line numbers) and its values, every scalar as text.

    libyaml, when PyYAML has it, is about ten times faster than the pure-Python parser but
    words its errors less helpfully: a document it rejects is parsed again by the pure-Python
    parser, whose error is the one raised.
    """
    for loader_class in (getattr(yaml, "CBaseLoader", None), yaml.BaseLoader):
        if loader_class is None:
            continue
        loader = loader_class(source)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, {}
            # Only an alias token (*name) makes the tree reach a node twice.
            if "*" in source and (alias := _alias(node)) is not None:
                raise AliasError(alias)
            obeys_tags = loader.yaml_constructors or loader.yaml_multi_constructors
            plain = None if obeys_tags else _plain_values(node)
            return node, (loader.construct_document(node) if plain is None else plain)
        except yaml.YAMLError:
            if loader_class is yaml.BaseLoader:
                raise
        finally:
            loader.dispose()
    raise AssertionError("unreachable: the pure-Python loader returns or raises")


def _plain_values(node: yaml.Node) -> dict[str, Any] | None:
    """Return what the loader constructs from the usual front matter, or None for another shape.

    The usual shape is keys with texts or lists of texts as values: for it the loader's
    constructor (BaseConstructor: every scalar its text, no tag obeyed, a later key
    replacing an earlier one) gives exactly this dict, at a fraction of its cost.
    """
    if type(node) is not yaml.MappingNode:
        return None
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if type(key_node) is not yaml.ScalarNode:
            return None
        if type(value_node) is yaml.ScalarNode:
            values[key_node.value] = value_node.value
        elif type(value_node) is yaml.SequenceNode and all(
            type(element) is yaml.ScalarNode for element in value_node.value
        ):
            values[key_node.value] = [element.value for element in value_node.value]
        else:
            return None
    return values


TOO_DEEP = (
    "värdena ligger för djupt inuti varandra (listor i listor): skriv en enkel lista, "
    "t.ex. [Kommuner, Regionen]"
)


def deepest_line(source: str) -> int:
    """Return the index of the line with the most opening brackets (where nesting goes deep)."""
    lines = source.split("\n")
    return max(range(len(lines)), key=lambda i: lines[i].count("[") + lines[i].count("{"))


class AliasError(ValueError):
    """Front matter uses a YAML alias (*name): the node it repeats is the argument."""


def _alias(root: yaml.Node) -> yaml.Node | None:
    """Return the first node that the tree under root reaches twice (through an alias).

    An alias repeats a node instead of copying it, so a few hundred bytes can stand for
    billions of values ("billion laughs"): the walk stops at the first node seen twice and
    never expands anything.
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack += node.value
        elif isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
    return None


def _first_alias(source: str) -> tuple[int, str]:
    """Return the file line and the name of the first alias in front matter source."""
    for token in yaml.scan(source):  # tokens only: nothing is expanded
        if isinstance(token, yaml.AliasToken):
            return token.start_mark.line + 2, str(token.value)
    return 2, ""


YAML_WORDS = [
    (r"^while parsing a (flow|block) sequence$", "listan"),
    (r"^while parsing a (flow|block) mapping$", "nycklarna"),
    (r"^while scanning a (double-|single-)?quoted scalar$", "texten inom citattecken"),
    (r"^while scanning a simple key$", "nyckeln"),
    (r"^while parsing a (flow|block) (collection|node)$", "blocket"),
    (
        r"^mapping values are not allowed here$",
        "ett kolon är inte tillåtet här: sätt texten inom citattecken",
    ),
    (r"^found unexpected end of stream$", "texten tar slut innan citattecknet stängs"),
    (
        r"^found character '\\t' that cannot start any token$",
        "tabbtecken går inte i YAML: använd mellanslag",
    ),
    (r"^could not find expected ':'$", "kolon saknas efter nyckeln"),
    (r"^expected (.+), but found (.+)$", r"väntade \1 men hittade \2"),
    (r"^expected (.+), but got (.+)$", r"väntade \1 men hittade \2"),
    (r"^did not find expected (.+)$", r"\1 saknas"),
    (r"^found undefined alias (.+)$", r"aliaset \1 är inte definierat (med &)"),
]


def _swedish(text: str) -> str:
    """Return PyYAML's English words for the common mistakes in Swedish."""
    for pattern, replacement in YAML_WORDS:
        if re.match(pattern, text):
            return re.sub(pattern, replacement, text).replace("' or '", "' eller '")
    return text


def parse_document(rel: str, text: str, problems: list[Problem]) -> Document | None:
    """Split front matter from body and parse it, keeping the line of every key."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(
            Problem(rel, 1, "front matter saknas: filen ska börja med en rad med bara '---'")
        )
        return None
    try:
        close = next(i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "..."))
    except StopIteration:
        problems.append(
            Problem(rel, 1, "front matter avslutas aldrig: lägg till en rad med bara '---'")
        )
        return None
    source = "\n".join(lines[1:close])
    try:
        node, meta = parse_yaml(source)
    except AliasError:
        line, name = _first_alias(source)
        problems.append(
            Problem(
                rel,
                line,
                f"aliaset *{shown(name, 40)} upprepar ett annat värde: ankare (&namn) och "
                "alias (*namn) går inte i front matter; skriv ut värdet där det behövs",
                rule="yaml-alias",
            )
        )
        return None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = (mark.line + 2) if mark else 1
        where = ""
        if e.context_mark and e.problem_mark and e.context_mark.line != e.problem_mark.line:
            where = f" (i {_swedish(e.context or '')} som börjar på rad {e.context_mark.line + 2})"
        message = _swedish(e.problem or e.context or "")
        problems.append(Problem(rel, line, f"ogiltig YAML: {message}{where}"))
        return None
    except yaml.YAMLError as e:
        problems.append(Problem(rel, 1, f"ogiltig YAML: {e}"))
        return None
    except RecursionError:  # the parser recurses once per level of [ and {
        problems.append(Problem(rel, 2 + deepest_line(source), TOO_DEEP, rule="too-deep"))
        return None
    if node is not None and not isinstance(node, yaml.MappingNode):
        problems.append(Problem(rel, 2, "front matter ska vara nycklar med värden (key: value)"))
        return None
    key_lines: dict[str, int] = {}
    for key_node, value_node in node.value if node is not None else ():
        key = str(key_node.value)
        if key in key_lines:
            problems.append(
                Problem(
                    rel,
                    key_node.start_mark.line + 2,
                    f'nyckeln "{shown(key)}" finns redan på rad {key_lines[key]}',
                )
            )
        key_lines[key] = key_node.start_mark.line + 2
        if isinstance(value_node, yaml.SequenceNode):
            for i, element in enumerate(value_node.value):
                key_lines[f"{key}.{i}"] = element.start_mark.line + 2
    # A control character gets into a value only written in the source, or as an escape.
    may_hide = "\\" in source or CONTROL.search(source) is not None
    escaped = [
        Problem(
            rel,
            key_lines.get(key, 2),
            f'fältet "{shown(CONTROL.sub("", key))}" innehåller tecknet '
            f"U+{ord(char):04X}, ett osynligt styrtecken (skrivet som \\-kod inom "
            "citattecken): ta bort det",
        )
        for key, value in (meta or {}).items()
        if may_hide and (char := _control_character([key, value]))
    ]
    problems += escaped
    if escaped:
        return None
    return Document(rel, meta or {}, key_lines, "\n".join(lines[close + 1 :]), close + 2)


def _control_character(value: Any) -> str | None:
    """Return the first control character in the text of value (lists and maps searched)."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if match := CONTROL.search(current):
                return match.group()
        elif id(current) not in seen:  # aliases can make a list contain itself
            seen.add(id(current))
            if isinstance(current, dict):
                stack += [*current.keys(), *current.values()]
            elif isinstance(current, list):
                stack += current
    return None


def starts_like(path: Path, magics: tuple[bytes, ...], suffix: str) -> bool:
    """Return whether a content file's first bytes are those of its type (by magic number)."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return False
    if not head.startswith(magics):
        return False
    return suffix != ".webp" or head[8:12] == b"WEBP"


def image_size(path: Path) -> tuple[int, int] | None:
    """Return the pixel width and height of a PNG, GIF or JPEG file from its header, or None."""
    try:
        with path.open("rb") as f:
            head = f.read(32)
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
            if head.startswith(b"\xff\xd8"):
                return _jpeg_size(f)
    except OSError:
        return None
    return None


def _jpeg_size(f: IO[bytes]) -> tuple[int, int] | None:
    f.seek(2)
    while marker := f.read(2):
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        length = int.from_bytes(f.read(2), "big")
        if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
            segment = f.read(5)
            return int.from_bytes(segment[3:5], "big"), int.from_bytes(segment[1:3], "big")
        f.seek(length - 2, 1)
    return None


def read_template(path: Path) -> str:
    """Return a template override's text (OSError and UnicodeDecodeError pass up)."""
    return path.read_text("utf-8")


def read_bytes(path: Path) -> bytes:
    """Return a content file's bytes, for a change that must keep every other byte."""
    return path.read_bytes()


def config_line(root: Path, section: str, key: str) -> int:
    """Return the line of key in [section] of newsletter.toml (1 when it cannot be found)."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return key_line((root / CONFIG).read_text("utf-8-sig").split("\n"), section, key) or 1
    return 1


def key_line(lines: list[str], section: str, key: str) -> int | None:
    """Return the line of key in [section] of newsletter.toml's lines, or None."""
    current = ""
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[]").strip()
        elif current == section and line.split("=", 1)[0].strip() == key:
            return number
    return None
