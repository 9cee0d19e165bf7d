"""The build cache: rendered issues kept by the digest of everything they were made from.

A rebuild renders only the issues whose inputs changed and takes the rest from here. An
entry's name is a SHA-256 key over the bytes of all an issue's outputs depend on: the tool
itself (its code, its templates and the versions of the libraries that render), the
content tree's templates/ and newsletter.toml, the checked site settings, the issue with its
items, the campaigns it shows and the files of its images. When the content tree overrides a
template, a template can reach every issue and campaign, so then the whole content is in
every key. A templates/ holding a symbolic link turns the cache off: the loader follows
links, which the keys' walk does not.

The cache lives in the content root's .nyhetsbrev/cache/ (never in the output). An entry
that is missing, unreadable, truncated, altered or written by another version is ignored
and rendered again; nothing in the cache is ever trusted without its checks. Writing the
cache never fails a build: a read-only root only makes the build slower.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from nyhetsbrev import __version__
from nyhetsbrev.build.publish import replace_file
from nyhetsbrev.content.models import Asset, Content, Issue

if TYPE_CHECKING:  # render imports the template and email libraries: not for a build record
    from nyhetsbrev.build.render import RenderedIssue

FORMAT = b"1"
MAGIC = b"nyhetsbrev-cache"
FOLDER = Path(".nyhetsbrev") / "cache"
LIBRARIES = ("mjml-python", "premailer", "cssutils", "lxml", "jinja2", "markdown-it-py")
FIELDS = 5  # mjml, html, text, eml, web
LENGTH = 12  # digits of each field's length


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """Return a digest of this tool: its version, its code and templates, its libraries."""
    h = hashlib.sha256(MAGIC + b" " + FORMAT + b" " + __version__.encode())
    package = Path(__file__).parents[1]
    for path in sorted(_files(package)):
        h.update(b"\0" + path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"\0{name}={version}".encode())
    return h.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def _tree_bytes(h: hashlib._Hash, folder: Path) -> None:
    """Add every file under folder (names and bytes) to h; nothing if there is no folder."""
    if not folder.is_dir():
        return
    for path in sorted(_files(folder)):
        h.update(b"\0" + path.relative_to(folder).as_posix().encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"\0unreadable")


def _holds_link(folder: Path) -> bool:
    """Return whether folder is or holds a symbolic link (anywhere below it)."""
    if folder.is_symlink():
        return True
    for top, dirs, names in os.walk(folder):
        if any(os.path.islink(os.path.join(top, name)) for name in (*dirs, *names)):
            return True
    return False


def _file_digest(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError:
        return b"unreadable"


@dataclass
class BuildCache:
    """The rendered-issue cache of one content root (folder None: no cache at all)."""

    folder: Path | None
    common: bytes = b""  # the part of every key shared by all issues
    whole: bytes = b""  # the whole content's digest, when templates are overridden

    @classmethod
    def open(cls, content: Content) -> BuildCache:
        """Return the cache of content's root, with the keys' shared part computed."""
        root = content.site.root
        templates = root / "templates"
        if _holds_link(templates):
            # The loader follows links, which the keys' walk does not: no cache at all.
            return cls(None)
        h = hashlib.sha256(fingerprint().encode())
        try:
            h.update(b"\0config\0" + (root / "newsletter.toml").read_bytes())
        except OSError:
            h.update(b"\0config\0unreadable")
        h.update(b"\0templates\0")
        _tree_bytes(h, templates)
        h.update(b"\0site\0" + repr(content.site).encode())
        whole = b""
        if templates.is_dir():
            # An override may show any issue or campaign: every key depends on all of them.
            w = hashlib.sha256(repr(content.campaigns).encode())
            for issue in content.issues:
                w.update(repr(issue).encode())
            for asset in _all_assets(content, content.issues, content.campaigns):
                w.update(_file_digest(asset.source))
            whole = w.digest()
        return cls(root / FOLDER, h.digest(), whole)

    def key(self, content: Content, issue: Issue, checked: str | None = None) -> str:
        """Return the key of one issue's rendered outputs.

        checked is the memo's key of the issue's check (nyhetsbrev.build.memo), when it came
        through the memo: the digest of all the issue is made from, which stands for the
        issue (its whole text is long to spell out).
        """
        h = hashlib.sha256(self.common)
        if checked is not None:
            h.update(b"\0checked\0" + checked.encode())
        else:
            h.update(b"\0issue\0" + repr(issue).encode())
        shown = sorted({slug for item in issue.items for slug in item.campaigns})
        campaigns = {slug: content.campaigns[slug] for slug in shown if slug in content.campaigns}
        h.update(b"\0campaigns\0" + repr(campaigns).encode())
        for asset in _all_assets(content, (issue,), campaigns):
            h.update(_file_digest(asset.source))
        h.update(b"\0whole\0" + self.whole)
        return h.hexdigest()

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / "issues" / key

    def get(self, key: str, issue: Issue) -> RenderedIssue | None:
        """Return the cached outputs under key, or None if absent or not to be trusted."""
        path = self._path(key)
        if path is None:
            return None
        try:
            data = read_kept(path)
        except OSError:
            return None
        fields = unpack(data, key)
        if fields is None:
            return None
        mjml, html, text, eml, web = fields
        try:
            from nyhetsbrev.build.render import RenderedIssue

            return RenderedIssue(
                issue, mjml.decode(), html.decode(), text.decode(), eml, web.decode()
            )
        except UnicodeDecodeError:
            return None

    def put(self, key: str, rendered: RenderedIssue) -> None:
        """Keep rendered under key (quietly nothing if the cache cannot be written)."""
        path = self._path(key)
        if path is None:
            return
        r = rendered
        data = pack(key, [r.mjml.encode(), r.html.encode(), r.text.encode(), r.eml, r.web.encode()])
        write_quietly(path, data)

    def keep_only(self, keys: Iterable[str]) -> None:
        """Remove the entries not under keys (what this build did not use) and leftovers."""
        if self.folder is None:
            return
        wanted = set(keys)
        try:
            for path in (self.folder / "issues").iterdir():
                if path.name not in wanted:
                    path.unlink(missing_ok=True)
        except OSError:
            return


def read_kept(path: Path, limit: int = -1) -> bytes:
    """Return a kept file's bytes (at most limit); raise OSError unless it is a regular
    file. Opened without waiting: a named pipe put in a kept file's place never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        return f.read(limit)


def write_quietly(path: Path, data: bytes) -> None:
    """Write a cache file whole or not at all; quietly nothing on any error (a cache may fail)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data)


def _header(key: str) -> bytes:
    return MAGIC + b" " + FORMAT + b" " + fingerprint().encode() + b" " + key.encode() + b"\n"


def pack(key: str, fields: list[bytes]) -> bytes:
    """Return an entry: the header (format, tool, key), the payload's SHA-256, the fields."""
    payload = b"".join(b"%0*d" % (LENGTH, len(f)) + f for f in fields)
    return _header(key) + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unpack(data: bytes, key: str, count: int = FIELDS) -> list[bytes] | None:
    """Return the count fields of an entry, or None unless it is whole, ours and for key."""
    header = _header(key)
    if not data.startswith(header):
        return None  # another format, another version of the tool, or another key
    start = len(header) + 65
    digest, payload = data[len(header) : start - 1], data[start:]
    if data[start - 1 : start] != b"\n" or hashlib.sha256(payload).hexdigest().encode() != digest:
        return None
    fields, at = [], 0
    for _ in range(count):
        size = payload[at : at + LENGTH]
        if len(size) != LENGTH or not size.isdigit():
            return None
        at += LENGTH
        end = at + int(size)
        if end > len(payload):
            return None
        fields.append(payload[at:end])
        at = end
    return fields if at == len(payload) else None


def _all_assets(content: Content, issues: Iterable[Issue], campaigns: object) -> Iterator[Asset]:
    for issue in issues:
        yield from issue.intro.assets
        for item in issue.items:
            yield from item.body.assets
            if item.image_asset is not None:
                yield item.image_asset
    for campaign in campaigns.values() if isinstance(campaigns, dict) else ():
        yield from campaign.body.assets
        if isinstance(campaign.logo, Asset):
            yield campaign.logo


def clear(root: Path) -> None:
    """Remove the whole cache of a content root."""
    shutil.rmtree(root / FOLDER, ignore_errors=True)
