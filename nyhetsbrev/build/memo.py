"""What a rebuild need not do again: read, parse and check unchanged files; build at all.

Two layers beside the rendered-issue cache (nyhetsbrev.build.cache), in the same folder:

- Per issue folder, the result of reading and parsing it (load) and of checking it
  (check), with the problems each step found. The key of the first is the digest of the
  folder's files (names, bytes) and the tool; the key of the second adds everything the
  check of an issue reads besides its folder: newsletter.toml, the checked site settings
  and the campaigns' names. An unchanged folder is hashed, not parsed or checked again.
- Per output folder, the record of the last build into it: a digest of every input of
  the build and a listing of the output as it was left. When both still hold, the output
  already is what the build would write, byte for byte, and the build writes nothing.
- Per content root, each input file's SHA-256 with its status (Digests): a build reads
  every input once, and not at all while its status is as recorded.

Entries are pickles read with an unpickler that builds nothing but the tool's own value
classes, dates, paths and the tool's time zone by its name (no function is ever called by
name), after their SHA-256 and the tool's fingerprint have been checked (nyhetsbrev.build.
cache's entry format). An entry that is missing, unreadable, altered or from another
version is ignored and the work done again.
Anyone who can write the root can write a whole entry, so what one holds is then checked
like input (valid): its types, its assets' files inside the root, its size.
A folder holding a symbolic link is never cached: its files are always read.
"""

from __future__ import annotations

import copyreg
import dataclasses
import datetime as dt
import functools
import hashlib
import io
import os
import pickle
import stat
import time
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PosixPath
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

from nyhetsbrev import errors
from nyhetsbrev.build import search_index
from nyhetsbrev.build.cache import FOLDER, fingerprint, pack, read_kept, unpack, write_quietly
from nyhetsbrev.content import models
from nyhetsbrev.content.models import STOCKHOLM, Content, Issue, Item, Site
from nyhetsbrev.errors import Problem

if TYPE_CHECKING:
    # check imports Markdown and more, load the YAML parser: a build with nothing to do
    # reads only its record, which holds neither's values.
    from types import ModuleType

    from nyhetsbrev.content.check import CheckIssue
    from nyhetsbrev.content.load import RawIssue, ReadIssue


def _values(module: ModuleType) -> dict[tuple[str, str], type]:
    """Return a module's own frozen value classes by (module, name)."""
    return {
        (cls.__module__, cls.__qualname__): cls
        for cls in vars(module).values()
        if isinstance(cls, type)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == module.__name__
    }


# Only these are built when an entry is read: the frozen value classes, dates and paths
# (the content loader's are added when it is imported, by _allowed).
ALLOWED = (
    _values(models)
    | _values(errors)
    | {
        ("datetime", "date"): dt.date,
        ("datetime", "datetime"): dt.datetime,
        ("datetime", "time"): dt.time,
        ("datetime", "timedelta"): dt.timedelta,
        ("datetime", "timezone"): dt.timezone,
        ("pathlib", "PosixPath"): PosixPath,
    }
)
ZONES = {STOCKHOLM.key: STOCKHOLM}


class Zone:
    """A time zone in an entry, by its name: Zone(name) is the zone, if it is one of ours.

    A ZoneInfo's own pickling calls a function by name; this only looks a name up.
    """

    def __new__(cls, key: str) -> ZoneInfo:  # type: ignore[misc]
        return ZONES[key]


ALLOWED[(Zone.__module__, Zone.__qualname__)] = Zone
# A pickler with a hook per object (persistent_id) costs a Python call per string: the
# zones are reduced through the dispatch table instead, which the pickler looks up in C.
_DISPATCH = copyreg.dispatch_table | {ZoneInfo: lambda zone: (Zone, (zone.key,))}


LOADER = "nyhetsbrev.content.load"


def _allowed(module: str, name: str) -> Any:
    if (module, name) not in ALLOWED and module == LOADER:
        from nyhetsbrev.content import load

        ALLOWED.update(_values(load))
    return ALLOWED[(module, name)]


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _allowed(module, name)
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not a value") from None


def dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Return the value in data, or raise ValueError for anything but the tool's values."""
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except Exception as e:  # a damaged pickle raises many kinds
        raise ValueError("not an entry") from e


# An entry is read only up to this size, and its value walked only up to this many parts
# and this depth: a hand-made entry can share one tuple so that it unfolds without end.
MAX_ENTRY = 4 * 1024 * 1024
MAX_PARTS = 500_000
MAX_DEPTH = 40


class _Invalid(Exception):
    pass


def valid(value: Any, hint: Any, root: Path) -> bool:
    """Return whether an unpickled value has the types its classes declare (hint: the
    expected type), every asset's file lies in root and goes to a place in the output,
    and it is of a sane size. Anyone who can write the root can write an entry: it is
    checked like input, and whatever fails is a cache miss."""
    budget = [MAX_PARTS]
    try:
        _validator(hint)(value, root.resolve(), budget, 0)
    except Exception:  # _Invalid, RecursionError, anything a strange value raises
        return False
    return True


# A validator checks one value against one type hint: (value, root, budget, depth). Each
# hint's validator is made once (closures over its parts), so that checking an entry costs
# a call per part of the value, not a walk through typing's introspection per part.
Validator = Callable[[Any, Path, list[int], int], None]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _spend(budget: list[int], depth: int, parts: int = 1) -> None:
    budget[0] -= parts
    if budget[0] < 0 or depth > MAX_DEPTH:
        raise _Invalid


# Types whose values hold nothing: one isinstance test checks them (bool is an int).
_LEAVES = (str, int, float, bool, bytes, dt.date, dt.datetime, dt.time, dt.timedelta)


@functools.cache
def _validator(hint: Any) -> Validator:
    """Return the validator of a type hint (made once per hint)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return _check_any
    if hint is None or hint is type(None):
        return _is_none
    if origin is typing.Union or origin is types.UnionType:
        return _union(args)
    if origin is typing.Literal:
        return _literal(args)
    if origin in (tuple, list, set, frozenset):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return _fixed_tuple(args)
        return _collection(origin, args[0] if args else Any)
    if origin is dict:
        return _mapping(args[0] if args else Any, args[1] if args else Any)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    if hint is Path or hint is PosixPath:
        return _posix_path
    if isinstance(hint, type):
        return _instance(hint)
    return _check_any


def _is_none(value: Any, root: Path, budget: list[int], depth: int) -> None:
    _spend(budget, depth)
    if value is not None:
        raise _Invalid


def _posix_path(value: Any, root: Path, budget: list[int], depth: int) -> None:
    _spend(budget, depth)
    if type(value) is not PosixPath:
        raise _Invalid


def _instance(cls: type) -> Validator:
    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if not isinstance(value, cls):
            raise _Invalid

    return check


def _union(arms: tuple[Any, ...]) -> Validator:
    validators = [_validator(arm) for arm in arms]
    optional = any(arm is None or arm is type(None) for arm in arms)

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if value is None and optional:
            return
        for arm in validators:
            try:
                arm(value, root, budget, depth + 1)
                return
            except _Invalid:
                continue
        raise _Invalid

    return check


def _literal(allowed: tuple[Any, ...]) -> Validator:
    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if value not in allowed:
            raise _Invalid

    return check


def _fixed_tuple(args: tuple[Any, ...]) -> Validator:
    validators = [_validator(arg) for arg in args]

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if type(value) is not tuple or len(value) != len(validators):
            raise _Invalid
        for part, part_check in zip(value, validators, strict=True):
            part_check(part, root, budget, depth + 1)

    return check


def _collection(kind: Any, part_hint: Any) -> Validator:
    if part_hint in _LEAVES:  # tuple[str, ...]: one test per part, no call

        def leaves(value: Any, root: Path, budget: list[int], depth: int) -> None:
            if type(value) is not kind:
                raise _Invalid
            _spend(budget, depth, 1 + len(value))
            for part in value:
                if not isinstance(part, part_hint):
                    raise _Invalid

        return leaves
    part_check = _lazy(part_hint)

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if type(value) is not kind:
            raise _Invalid
        for part in value:
            part_check(part, root, budget, depth + 1)

    return check


def _mapping(key_hint: Any, value_hint: Any) -> Validator:
    if key_hint in _LEAVES and value_hint in _LEAVES:  # dict[str, int]: no call per entry

        def leaves(value: Any, root: Path, budget: list[int], depth: int) -> None:
            if type(value) is not dict:
                raise _Invalid
            _spend(budget, depth, 1 + 2 * len(value))
            for k, v in value.items():
                if not (isinstance(k, key_hint) and isinstance(v, value_hint)):
                    raise _Invalid

        return leaves
    key_check, value_check = _lazy(key_hint), _lazy(value_hint)

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth)
        if type(value) is not dict:
            raise _Invalid
        for k, v in value.items():
            key_check(k, root, budget, depth + 1)
            value_check(v, root, budget, depth + 1)

    return check


_MAKING: set[Any] = set()  # the classes whose validators are being made


def _lazy(hint: Any) -> Validator:
    """Return hint's validator; made at its first use if it is being made (a class may
    contain itself)."""
    if hint not in _MAKING:
        return _validator(hint)
    made: list[Validator] = []

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        if not made:
            made.append(_validator(hint))
        made[0](value, root, budget, depth)

    return check


def _dataclass(cls: Any) -> Validator:
    hints = _hints(cls)
    declared = [(f.name, hints.get(f.name, Any)) for f in dataclasses.fields(cls)]
    # A field of a plain type (a string, a number, a date) is tested here, without a call.
    leaves = [(name, hint) for name, hint in declared if hint in _LEAVES]
    _MAKING.add(cls)
    try:
        fields = [(name, _lazy(hint)) for name, hint in declared if hint not in _LEAVES]
    finally:
        _MAKING.discard(cls)
    parts = 1 + len(leaves)
    asset = cls is models.Asset

    def check(value: Any, root: Path, budget: list[int], depth: int) -> None:
        _spend(budget, depth, parts)
        if type(value) is not cls:
            raise _Invalid
        for name, leaf in leaves:
            if not isinstance(getattr(value, name), leaf):
                raise _Invalid
        for name, field_check in fields:
            field_check(getattr(value, name), root, budget, depth + 1)
        if asset and not _inside(value, root):
            raise _Invalid

    return check


def _check_any(value: Any, root: Path, budget: list[int], depth: int) -> None:
    """Walk a value of no declared type (front matter): its size and its assets count."""
    _spend(budget, depth)
    if type(value) is str:  # most of front matter
        return
    if isinstance(value, (tuple, list, set, frozenset)):
        for part in value:
            _check_any(part, root, budget, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_any(k, root, budget, depth + 1)
            _check_any(v, root, budget, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _validator(type(value))(value, root, budget, depth + 1)


def _inside(asset: models.Asset, root: Path) -> bool:
    """Return whether an asset's file lies in root and its place in the output is relative."""
    target = PosixPath(asset.target)
    return (
        asset.source.resolve().is_relative_to(root)
        and not target.is_absolute()
        and ".." not in target.parts
    )


def _folder_digest(root: Path, folder: Path, digests: Digests) -> str | None:
    """Return the digest of a folder's files (names and bytes), None if it holds a link."""
    if folder.is_symlink() or folder.resolve() != folder:
        return None
    h = hashlib.sha256(b"folder\0" + fingerprint().encode() + b"\0" + os.fsencode(root))
    h.update(b"\0" + os.fsencode(folder.relative_to(root)) + b"\0")
    for rel, mode, data in _walk(folder, digests):
        if stat.S_ISLNK(mode):
            return None
        h.update(b"\0%s\0%o\0" % (rel, stat.S_IFMT(mode)) + data)
    return h.hexdigest()


def _walk(folder: Path, digests: Digests) -> Iterator[tuple[bytes, int, bytes]]:
    """Yield every entry under folder, sorted: relative name, lstat mode, a file's digest.

    A file that cannot be read is yielded with its error's number, so that the entry
    changes when the error does (load reports it).
    """
    base = os.fsencode(folder)
    stack = [b""]
    while stack:
        rel = stack.pop()
        try:
            names = sorted(os.listdir(os.path.join(base, rel) if rel else base))
        except OSError as e:
            yield rel, 0, b"error %d" % (e.errno or 0)
            continue
        for name in names:
            path_rel = os.path.join(rel, name) if rel else name
            path = os.path.join(base, path_rel)
            try:
                found = os.lstat(path)
            except OSError as e:
                yield path_rel, 0, b"error %d" % (e.errno or 0)
                continue
            mode = found.st_mode
            if stat.S_ISDIR(mode):
                yield path_rel, mode, b""
                stack.append(path_rel)
            elif stat.S_ISREG(mode):
                yield path_rel, mode, digests.file(path, found)
            else:
                yield path_rel, mode, b""


@dataclass
class Memo:
    """The load and check results of a content root's issue folders (folder None: none)."""

    folder: Path | None
    digests: dict[Path, str] = field(default_factory=dict)  # issue folder -> its digest
    config: str | None = None  # newsletter.toml's text, part of every check key
    used: set[str] = field(default_factory=set)  # the entries this build read or wrote
    digests_of_files: Digests = field(default_factory=lambda: Digests(None))
    # The key of each issue this build checked or took from here (by the issue's id; the
    # issue is held, so the id stays its own): the issue is what check makes of that key.
    checked: dict[int, tuple[Issue, str]] = field(default_factory=dict)

    def key_of(self, issue: Issue) -> str | None:
        """Return the memo key an issue was checked under, None if it was not."""
        found = self.checked.get(id(issue))
        return found[1] if found is not None and found[0] is issue else None

    @classmethod
    def open(cls, root: Path, digests: Digests | None = None) -> Memo:
        """Return the memo of root; digests: the build's file digests (read once per build)."""
        root = root.resolve()
        return cls(root / FOLDER / "checked", digests_of_files=digests or Digests.open(root))

    def _get(self, key: str, hint: Any = Any) -> Any:
        """Return the value under key if it is of type hint (see valid), else None."""
        if self.folder is None:
            return None
        self.used.add(key)
        try:
            data = read_kept(self.folder / key, MAX_ENTRY + 1)
        except OSError:
            return None
        if len(data) > MAX_ENTRY:
            return None
        fields = unpack(data, key, 1)
        if fields is None:
            return None
        try:
            value = loads(fields[0])
        except ValueError:
            return None
        return value if valid(value, hint, self.folder.parents[2]) else None

    def _put(self, key: str, value: object) -> None:
        if self.folder is None:
            return
        self.used.add(key)
        write_quietly(self.folder / key, pack(key, [dumps(value)]))

    def read_issue(self, read: ReadIssue) -> ReadIssue:
        """Wrap load's read of one issue folder: unchanged folders come from here."""

        from nyhetsbrev.content.load import RawIssue

        def cached(root: Path, folder: Path, problems: list[Problem]) -> RawIssue:
            digest = _folder_digest(root, folder, self.digests_of_files)
            if digest is None:
                return read(root, folder, problems)
            key = "load-" + digest
            found = self._get(key, tuple[RawIssue, list[Problem]])
            if found is not None:
                raw, added = found
                if raw.folder == folder:
                    self.digests[folder] = digest
                    problems += added
                    return cast(RawIssue, raw)
            before = len(problems)
            raw = read(root, folder, problems)
            self._put(key, (raw, problems[before:]))
            self.digests[folder] = digest
            return raw

        return cached

    def check_issue(self, check: CheckIssue) -> CheckIssue:
        """Wrap check's check of one issue: an unchanged folder's result comes from here."""

        # What every key shares, made once per (site, names): the objects are held, so an
        # identity test cannot mistake new ones for them.
        shared: list[tuple[Site, dict[str, str], bytes]] = []

        def common(site: Site, names: dict[str, str]) -> bytes:
            if shared and shared[0][0] is site and shared[0][1] is names:
                return shared[0][2]
            h = hashlib.sha256(b"check\0config\0")
            h.update((self.config or "").encode("utf-8", "surrogatepass"))
            h.update(b"\0site\0" + dumps(site))  # its repr shows only the title
            h.update(b"\0names\0" + repr(sorted(names.items())).encode("utf-8", "surrogatepass"))
            shared[:] = [(site, names, h.digest())]
            return shared[0][2]

        def cached(
            raw: RawIssue, site: Site, names: dict[str, str], problems: list[Problem]
        ) -> Issue | None:
            digest = self.digests.get(raw.folder)
            if digest is None:
                return check(raw, site, names, problems)
            key = "check-" + hashlib.sha256(common(site, names) + digest.encode()).hexdigest()
            found = self._get(key, tuple[Issue | None, list[Problem]])
            if found is not None:
                issue, added = found
                problems += added
            else:
                # The real list: the check looks back at what load found in the folder.
                before = len(problems)
                issue = check(raw, site, names, problems)
                self._put(key, (issue, problems[before:]))
            if issue is not None:
                self.checked[id(issue)] = (issue, key)
            return cast("Issue | None", issue)

        return cached

    def keep_only_used(self) -> None:
        """Remove the entries this build did not read or write (quietly, on any error)."""
        if self.folder is None:
            return
        try:
            for path in self.folder.iterdir():
                if path.name not in self.used:
                    path.unlink(missing_ok=True)
        except OSError:
            return


# The files' digests by their status (like git's index) -----------------------------------

# A file changed within this many nanoseconds before its status was taken could change
# again within the file system's timestamp granularity without its status changing: its
# digest is not kept ("racy"), so it is read again by the next build. Two seconds cover
# the coarsest file systems' times and the kernel's coarse clock.
RACY_NS = 2_000_000_000

Status = tuple[int, int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device, mode


def _status(found: os.stat_result) -> Status:
    return (
        found.st_size,
        found.st_mtime_ns,
        found.st_ctime_ns,
        found.st_ino,
        found.st_dev,
        found.st_mode,
    )


class Digests:
    """The SHA-256 of input files, each read once per build and not again while its status
    (size, times, inode, device, mode) stays the same.

    A file's bytes cannot change without its ctime changing, which nothing but the clock
    sets, so a file whose status is as recorded holds the bytes recorded. The record lives
    in the cache folder (path None: none); a damaged or foreign record is ignored. Anyone
    who can write it can also write the memo's entries, which are checked like input: a
    wrong digest can only make a build reuse a checked entry, never read outside the root.
    """

    def __init__(self, path: Path | None, known: dict[bytes, tuple[Status, bytes]] | None = None):
        self.path = path
        self.taken = time.time_ns()  # before any file's status is taken
        self.known = known or {}  # path -> (status, digest): what the last build recorded
        self.seen: dict[bytes, tuple[Status, bytes]] = {}  # this build's, kept if not racy
        self.read = 0  # files hashed by this build (for tests)

    @classmethod
    def open(cls, root: Path) -> Digests:
        path = root / FOLDER / "files"
        digests = cls(path)
        try:
            data = read_kept(path, MAX_ENTRY + 1)
        except OSError:
            return digests
        fields = unpack(data, "files", 1) if len(data) <= MAX_ENTRY else None
        try:
            known = loads(fields[0]) if fields is not None else None
        except ValueError:
            return digests
        if type(known) is dict and all(_known_entry(k, v) for k, v in known.items()):
            digests.known = known
        return digests

    def file(self, path: bytes, found: os.stat_result) -> bytes:
        """Return the digest of the regular file at path whose lstat is found."""
        status = _status(found)
        entry = self.seen.get(path) or self.known.get(path)
        if entry is not None and entry[0] == status:
            self.seen[path] = entry
            return entry[1]
        digest = _digest(path)
        self.read += 1
        if max(found.st_mtime_ns, found.st_ctime_ns) < self.taken - RACY_NS:
            self.seen[path] = (status, digest)
        return digest

    def keep(self) -> None:
        """Record this build's digests for the next (quietly nothing on any error)."""
        if self.path is not None and self.seen != self.known:
            write_quietly(self.path, pack("files", [dumps(self.seen)]))


def _known_entry(path: Any, entry: Any) -> bool:
    return (
        type(path) is bytes
        and type(entry) is tuple
        and len(entry) == 2
        and type(entry[1]) is bytes
        and type(entry[0]) is tuple
        and len(entry[0]) == 6
        and all(type(n) is int for n in entry[0])
    )


# The whole build -------------------------------------------------------------------------

# Everything of the content root that a build reads, besides files that outputs copy
# (recorded with each build: the site's logo may lie anywhere in the root).
INPUTS = ("newsletter.toml", "campaigns", "newsletters", "templates", "arkiv")


def _inputs_digest(root: Path, out: Path, options: str, digests: Digests) -> str | None:
    """Return the digest of everything a build of root into out reads, but the files it
    copies from elsewhere (_with_sources); None if unsure (a symbolic link)."""
    h = hashlib.sha256(b"build\0" + fingerprint().encode() + b"\0" + options.encode())
    h.update(b"\0" + os.fsencode(root) + b"\0" + os.fsencode(out) + b"\0")
    h.update(dt.datetime.now(STOCKHOLM).date().isoformat().encode())  # the statement's age
    search_index.add_setup(h)
    for name in INPUTS:
        path = root / name
        h.update(b"\0input\0" + name.encode() + b"\0")
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            h.update(b"-")
            continue
        mode = found.st_mode
        if stat.S_ISLNK(mode):
            return None
        if stat.S_ISREG(mode):
            h.update(digests.file(os.fsencode(path), found))
        elif stat.S_ISDIR(mode):
            for rel, entry_mode, data in _walk(path, digests):
                if stat.S_ISLNK(entry_mode):
                    return None
                h.update(b"\0%s\0%o\0" % (rel, stat.S_IFMT(entry_mode)) + data)
    return h.hexdigest()


def _with_sources(inputs: str | None, sources: list[str]) -> str | None:
    """Return the digest of the inputs and of the copied files outside them (the logo)."""
    if inputs is None:
        return None
    h = hashlib.sha256(b"sources\0" + inputs.encode())
    for source in sources:
        path = Path(source)
        h.update(b"\0source\0" + os.fsencode(path) + b"\0")
        if path.is_symlink() or path.resolve() != path or not path.is_file():
            return None
        h.update(_digest(os.fsencode(path)))
    return h.hexdigest()


def _digest(path: bytes) -> bytes:
    """Return a file's SHA-256, read a piece at a time (a big PDF is never held whole);
    for a file that cannot be read, its error's number, so the key changes with it."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").digest()
    except OSError as e:
        return b"error %d" % (e.errno or 0)


def _listing(out: Path) -> bytes | None:
    """Return the output folder as it is: every entry's name, type, size, times and inode.

    A file changed in any way since changes its ctime, which nothing can set back.
    """
    try:
        top = os.lstat(out)
    except OSError:
        return None
    if not stat.S_ISDIR(top.st_mode):
        return None
    lines = [b"%d %d" % (top.st_ino, top.st_ctime_ns)]
    base = os.fsencode(out)
    stack = [b""]
    try:
        while stack:
            rel = stack.pop()
            with os.scandir(os.path.join(base, rel) if rel else base) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    s = entry.stat(follow_symlinks=False)
                    name = os.path.join(rel, entry.name) if rel else entry.name
                    lines.append(
                        b"%s %o %d %d %d %d"
                        % (name, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                    )
                    if stat.S_ISDIR(s.st_mode):
                        stack.append(name)
    except OSError:
        return None
    return b"\n".join(lines)


Published = tuple[Content, list[Problem], tuple[Issue, ...], int]
Counts = tuple[int, int, int]  # issues, items, events: what a build's closing line says


def counts(content: Content) -> Counts:
    """Return the number of issues, items and events of content."""
    items = [item for issue in content.issues for item in issue.items]
    return len(content.issues), len(items), sum(1 for item in items if item.type == "event")


class Recorded:
    """What the last build published, as its record holds it: its warnings, drafts, number
    of files and counts; its content is read only when asked for (content())."""

    def __init__(
        self, warnings: list[Problem], drafts: tuple[Issue, ...], files: int, counted: Counts
    ):
        self.warnings, self.drafts, self.files, self.counts = warnings, drafts, files, counted
        self.recorded = b""

    def content(self) -> Content | None:
        """Return the recorded content, or None if the record does not hold it whole."""
        try:
            content = loads(self.recorded)
        except ValueError:
            return None
        return content if _counts(content) and counts(content) == self.counts else None


def _counts(content: Any) -> bool:
    """Return whether a recorded Content holds issues and items the closing line can count."""
    return (
        type(content) is Content
        and type(content.issues) is tuple
        and all(
            type(issue) is Issue
            and type(issue.items) is tuple
            and all(type(item) is Item and type(item.type) is str for item in issue.items)
            for issue in content.issues
        )
    )


@dataclass
class BuildRecord:
    """The last build of a content root into one output folder (path None: no record)."""

    path: Path | None
    root: Path
    out: Path
    options: str  # the build's options that change its output or its result
    digests: Digests  # the input files' digests, shared with the build's memo

    @classmethod
    def open(cls, root: Path, out: Path, options: str) -> BuildRecord:
        root, out = root.resolve(), out.resolve()
        name = hashlib.sha256(os.fsencode(out)).hexdigest()
        return cls(root / FOLDER / "builds" / name, root, out, options, Digests.open(root))

    def inputs(self) -> str | None:
        """Return the digest of the build's inputs (None: no record can be trusted)."""
        return _inputs_digest(self.root, self.out, self.options, self.digests)

    def unchanged(self, inputs: str | None) -> Recorded | None:
        """Return what the last build published, if its inputs (digest: inputs) and its
        output are as it left them."""
        if self.path is None or inputs is None:
            return None
        try:
            data = read_kept(self.path)
        except OSError:
            return None
        head = data.partition(b"\n")[0].split(b" ")
        if len(head) != 4 or head[3].count(b".") != 1:
            return None
        inputs_part, _ = head[3].decode("ascii", "replace").split(".")
        if inputs_part != inputs:  # an input changed: nothing more to read
            return None
        fields = unpack(data, head[3].decode("ascii"), 4)
        if fields is None:
            return None
        try:
            sources = loads(fields[0])
        except ValueError:
            return None
        # Each source is hashed below: only files a build could have copied (the root's
        # outside its inputs, the package's own) are; a forged name could name any file.
        if not (type(sources) is list and all(_copyable(s, self.root) for s in sources)):
            return None
        key = f"{inputs}.{_with_sources(inputs, sources)}"
        if key != head[3].decode("ascii") or _listing(self.out) != fields[1]:
            return None
        try:
            found = loads(fields[2])
        except ValueError:
            return None
        if not (isinstance(found, tuple) and len(found) == 4):
            return None
        warnings, drafts, count, counted = found
        # Nothing is written from a record: what the closing line prints is checked whole;
        # the content is read only if it is asked for (most builds never do).
        if (
            type(count) is int
            and valid(warnings, list[Problem], self.root)
            and valid(drafts, tuple[Issue, ...], self.root)
            and type(counted) is tuple
            and len(counted) == 3
            and all(type(n) is int for n in counted)
        ):
            recorded = Recorded(warnings, drafts, count, counted)
            recorded.recorded = fields[3]
            return recorded
        return None

    def keep(
        self,
        before: str | None,
        copied: list[tuple[str, Path]],
        result: Published,
        settled: Callable[[], None] = lambda: None,
    ) -> None:
        """Record a build that has just published (quietly nothing on any error).

        before is the inputs' digest taken when the build started: if they changed while
        it ran, nothing is recorded. copied are the output files copied from outside the
        inputs (relative name, source), each compared with its copy in the output.
        settled waits until the output's files are as they stay (the old output removed):
        the output is listed only then.
        """
        if self.path is None or before is None or self.inputs() != before:
            return
        sources = sorted({str(source) for _, source in copied})
        with_sources = _with_sources(before, sources)
        if with_sources is None:
            return
        content, warnings, drafts, count = result
        published = dumps((warnings, drafts, count, counts(content)))
        recorded = dumps(content)
        settled()
        for rel, source in copied:
            if _digest(os.fsencode(source)) != _digest(os.fsencode(self.out / rel)):
                return
        listing = _listing(self.out)
        if listing is None:
            return
        key = f"{before}.{with_sources}"
        write_quietly(self.path, pack(key, [dumps(sources), listing, published, recorded]))


PACKAGE = Path(__file__).resolve().parent.parent  # the package's own files (site.js)


def _copyable(source: Any, root: Path) -> bool:
    """Return whether a recorded source names a file a build may copy: in the root but
    outside its inputs, or in the package."""
    if type(source) is not str or "\0" in source:
        return False
    path = Path(source)
    try:  # resolving a link to itself raises
        inside = path.is_relative_to(root) and outside_inputs(root, path)
    except (OSError, RuntimeError):
        return False
    return inside or path.is_relative_to(PACKAGE)


def outside_inputs(root: Path, source: Path) -> bool:
    """Return whether a copied file lies outside the folders whose bytes are inputs."""
    try:
        rel = source.resolve().relative_to(root.resolve())
    except ValueError:
        return True
    return rel.parts[0] not in INPUTS if rel.parts else True
