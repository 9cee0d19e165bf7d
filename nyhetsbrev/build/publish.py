"""The only writer: render into a temporary folder beside the output, then swap it in.

A failed or killed build leaves the previous output as it was. Files whose bytes did not
change keep their old modification time, so web servers' conditional GETs keep working.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

from nyhetsbrev import urls
from nyhetsbrev.errors import NyhetsbrevError

Output = tuple[str, bytes | Path]  # (relative POSIX path, content or a file to copy)


class PublishError(NyhetsbrevError):
    """The output folder could not be written."""


def publish(
    out: Path,
    files: Iterable[Output],
    finish: Callable[[Path], int] | None = None,
    after: Callable[[int, Callable[[], None]], None] | None = None,
) -> int:
    """Write files into a fresh folder, then replace out with it; return the number written.

    finish, if given, runs on the fresh folder before the swap (the search index) and
    returns how many files it added; if it fails, out stays as it was. after, if given,
    runs once out is replaced, while the old output is removed, with the number written and
    a function that waits until it is gone (unchanged files are links shared by both
    outputs: their status changes as the old ones go).
    """
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-ny-", dir=out.parent))
    except OSError as e:
        raise PublishError(f"{out}: kan inte skriva utdata: {reason(e)}") from e
    try:
        count = _write_all(staging, files, out if out.is_dir() else None)
        if finish is not None:
            count += finish(staging)
        old = _swap(staging, out)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(
            f"{out}: bygget avbröts, den tidigare utdatan är orörd: {reason(e)}"
            f"{' (' + str(e.filename) + ')' if getattr(e, 'filename', None) else ''}"
        ) from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Removing the old output is mostly waiting for the disk: done beside what comes after.
    remover = threading.Thread(target=shutil.rmtree, args=(old,), kwargs={"ignore_errors": True})
    if old is not None:
        remover.start()

    def removed() -> None:
        if old is not None:
            remover.join()

    try:
        if after is not None:
            after(count, removed)
    finally:
        removed()
    return count


# Folders of the content tree that an output folder must never be or lie in.
CONTENT_FOLDERS = ("newsletters", "campaigns", "templates", "arkiv", ".nyhetsbrev", ".git")
# What every build writes: a folder holding both is taken for an earlier output.
BUILD_MARKS = (urls.ARCHIVE, urls.RSS)


def unsafe_output(root: Path, out: Path) -> str:
    """Return why build must not replace out ("" when it may): publishing replaces the folder
    whole, so it must be a new or empty folder or an earlier build, never the content."""
    root, out = root.resolve(), out.resolve()
    if out == root or root.is_relative_to(out):
        return (
            f"{out}: utmappen får inte vara innehållets mapp eller en mapp ovanför den, "
            f"eftersom build ersätter hela utmappen; välj till exempel {root / 'public'}"
        )
    for folder in CONTENT_FOLDERS:
        if out.is_relative_to(root / folder):
            return (
                f"{out}: utmappen får inte ligga i innehållets {folder}/, eftersom build "
                f"ersätter hela utmappen; välj till exempel {root / 'public'}"
            )
    earlier = all((out / mark).is_file() for mark in BUILD_MARKS)
    if out.is_dir() and not earlier and any(out.iterdir()):
        return (
            f"{out}: mappen finns redan och innehåller annat än ett tidigare bygge; build "
            "ersätter hela utmappen, så välj en ny eller tom mapp"
        )
    return ""


REASONS = {
    errno.ENOSPC: "disken är full: frigör utrymme och bygg igen",
    errno.EDQUOT: "diskkvoten är slut: frigör utrymme och bygg igen",
    errno.EROFS: "filsystemet är skrivskyddat: välj en annan mapp med --out",
    errno.EACCES: "behörighet saknas att skriva här: välj en annan mapp med --out",
    errno.EPERM: "mappen får inte ändras (skrivskyddad?): välj en annan mapp med --out",
    errno.ENOTDIR: "en del av sökvägen är en fil, inte en mapp",
    errno.EEXIST: "det finns en fil där en mapp behövs",
    errno.ENOENT: "en fil eller mapp som bygget skrev försvann under bygget",
}


def reason(error: OSError) -> str:
    """Return what went wrong, in Swedish, for the errors a disk gives most often."""
    return REASONS.get(error.errno or 0, error.strerror or str(error))


def _write_all(staging: Path, files: Iterable[Output], previous: Path | None = None) -> int:
    written: set[str] = set()
    folders: set[Path] = set()
    for rel, data in files:
        if rel in written:
            raise PublishError(
                f"{rel}: två filer ska skrivas till samma plats (ett fel i mallarna?)"
            )
        written.add(rel)
        parts = PurePosixPath(rel).parts
        if not parts or parts[0] == "/" or ".." in parts or "\\" in rel:
            # Every path comes from the build, but a setting or a template might shape
            # one: nothing is ever written outside the output folder.
            raise PublishError(f"{rel}: filen skulle hamna utanför utmappen och skrivs inte")
        target = staging / rel
        if target.parent not in folders:  # one mkdir per folder, not per file
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        old = previous / rel if previous is not None else None
        if old is not None and _same(data, old) and _link(old, target):
            continue
        if isinstance(data, Path):
            shutil.copyfile(data, target)
        else:
            target.write_bytes(data)
        if old is not None and _same(target, old):
            stat = old.stat()
            os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return len(written)


def _link(old: Path, target: Path) -> bool:
    """Share an unchanged file with the previous output: its bytes and its mtime stay.

    Linking is cheaper than writing (no new file), and the old output only goes away
    whole, after the swap. False when the file system cannot link.
    """
    try:
        os.link(old, target, follow_symlinks=False)
    except OSError:
        return False
    return True


def _same(data: bytes | Path, old: Path) -> bool:
    """Return whether old is a regular file holding exactly data (bytes or a file's bytes)."""
    try:
        stat = old.lstat()
        if not os.path.isfile(old) or old.is_symlink():
            return False
        if isinstance(data, Path):
            return data.stat().st_size == stat.st_size and _same_bytes(data, old)
        return len(data) == stat.st_size and data == old.read_bytes()
    except OSError:
        return False


CHUNK = 1024 * 1024  # bytes compared at a time: a big asset is never read whole


def _same_bytes(a: Path, b: Path) -> bool:
    """Return whether two files hold the same bytes, reading both a chunk at a time."""
    with a.open("rb") as first, b.open("rb") as second:
        while True:
            left, right = first.read(CHUNK), second.read(CHUNK)
            if left != right:
                return False
            if not left:
                return True


def _swap(staging: Path, out: Path) -> Path | None:
    """Put staging in out's place in one step; return the folder holding the old output,
    for the caller to remove (None: there was none)."""
    os.chmod(staging, 0o755)
    if not out.exists():
        os.rename(staging, out)
        return None
    if not out.is_dir():
        raise PublishError(f"{out}: finns redan och är ingen mapp")
    if _exchange(staging, out):
        return staging  # the old output, under the staging folder's name
    # Without an atomic exchange, a crash between these two renames leaves the old
    # output in the ".gammal" folder beside out, never a half-written out.
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}-gammal-", dir=out.parent))
    os.rename(out, old / out.name)
    os.rename(staging, out)
    return old


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically with Linux's renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot
        return False
    raise OSError(errno, os.strerror(errno), str(b))


LOCK_WAIT = 3.0  # seconds a build waits for another build into the same output


@contextlib.contextmanager
def output_lock(out: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the output's lock (a file ".OUT.lock" beside it) while the block runs.

    Only the holder may remove staging folders or swap the output: two builds into one
    folder would otherwise delete each other's staging. The kernel releases the lock when
    its process dies, so a killed build never blocks the next one. Waits up to wait seconds
    (LOCK_WAIT), then raises PublishError. The holder removes the file when it is done.
    """
    out = out.resolve()
    lock = out.parent / f".{out.name}.lock"
    deadline = time.monotonic() + (LOCK_WAIT if wait is None else wait)
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise PublishError(f"{out}: kan inte skriva utdata: {reason(e)}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The holder before may have removed the file just now: then lock the new one.
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(fd)
        if time.monotonic() >= deadline:
            raise PublishError(
                f"{out}: ett annat bygge skriver redan till mappen: "
                "vänta tills det är klart och bygg sedan igen"
            )
        time.sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)  # releases the lock


def remove_leftovers(out: Path) -> None:
    """Remove staging folders that a killed build left beside out (only under output_lock)."""
    for path in out.parent.glob(f".{out.name}-ny-*"):
        shutil.rmtree(path, ignore_errors=True)


def replace_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace path's bytes in one step (a temporary file beside it, then a rename).

    mode None keeps an existing file's permissions (0o644 for a new one). Raises OSError.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}-ny-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is None:
            mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_file(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write one file whole or not at all: a temporary file beside it, then a rename.

    mode 0o600 keeps a file of personal data (a register export) to its owner.
    """
    target = target.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, data, mode)
    except OSError as e:
        raise PublishError(f"{target}: kan inte skriva filen: {e.strerror or e}") from e
