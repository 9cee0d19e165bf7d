"""The only writer: render into a temporary folder beside the output, then swap it in.

A failed or killed build leaves the previous output as it was. Files whose bytes did not
change keep their old modification time, so web servers' conditional GETs keep working.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import NyhetsbrevError

Output = tuple[str, bytes | Path]  # (relative POSIX path, content or a file to copy)


class PublishError(NyhetsbrevError):
    """The output folder could not be written."""


def publish(out: Path, files: Iterable[Output]) -> int:
    """Write files into a fresh folder, then replace out with it; return the number written."""
    out = out.resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-ny-", dir=out.parent))
    except OSError as e:
        raise PublishError(f"{out}: kan inte skriva utdata: {reason(e)}") from e
    try:
        count = _write_all(staging, files)
        _keep_unchanged_mtimes(out, staging)
        _swap(staging, out)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(
            f"{out}: bygget avbröts, den tidigare utdatan är orörd: {reason(e)}"
            f"{' (' + str(e.filename) + ')' if getattr(e, 'filename', None) else ''}"
        ) from e
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return count


REASONS = {
    errno.ENOSPC: "disken är full: frigör utrymme och bygg igen",
    errno.EDQUOT: "diskkvoten är slut: frigör utrymme och bygg igen",
    errno.EROFS: "filsystemet är skrivskyddat: välj en annan mapp med --out",
    errno.EACCES: "behörighet saknas att skriva här: välj en annan mapp med --out",
    errno.EPERM: "åtgärden är inte tillåten här (skrivskyddad mapp?): välj en annan mapp med --out",
    errno.ENOTDIR: "en del av sökvägen är en fil, inte en mapp",
}


def reason(error: OSError) -> str:
    """Return what went wrong, in Swedish, for the errors a disk gives most often."""
    return REASONS.get(error.errno or 0, error.strerror or str(error))


def _write_all(staging: Path, files: Iterable[Output]) -> int:
    written: set[str] = set()
    folders: set[Path] = set()
    for rel, data in files:
        if rel in written:
            raise PublishError(f"{rel}: två filer ska skrivas till samma plats (ett fel i mallarna?)")
        written.add(rel)
        target = staging / rel
        if target.parent not in folders:  # one mkdir per folder, not per file
            target.parent.mkdir(parents=True, exist_ok=True)
            folders.add(target.parent)
        if isinstance(data, Path):
            shutil.copyfile(data, target)
        else:
            target.write_bytes(data)
    return len(written)


def _keep_unchanged_mtimes(old: Path, new: Path) -> None:
    if not old.is_dir():
        return
    for path in new.rglob("*"):
        previous = old / path.relative_to(new)
        if path.is_file() and previous.is_file() and _same(path, previous):
            stat = previous.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _same(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def _swap(staging: Path, out: Path) -> None:
    """Put staging in out's place in one step; the old output ends up in staging."""
    os.chmod(staging, 0o755)
    if not out.exists():
        os.rename(staging, out)
        return
    if not out.is_dir():
        raise PublishError(f"{out}: finns redan och är ingen mapp")
    if _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)
        return
    # Without an atomic exchange, a crash between these two renames leaves the old
    # output in the ".gammal" folder beside out, never a half-written out.
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}-gammal-", dir=out.parent))
    os.rename(out, old / out.name)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


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


def remove_leftovers(out: Path) -> None:
    """Remove staging folders that a killed build left beside out."""
    for path in out.parent.glob(f".{out.name}-ny-*"):
        shutil.rmtree(path, ignore_errors=True)


def write_file(target: Path, data: bytes) -> None:
    """Write one file whole or not at all: a temporary file beside it, then a rename."""
    target = target.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}-ny-", dir=target.parent)
    except OSError as e:
        raise PublishError(f"{target}: kan inte skriva filen: {e.strerror or e}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except OSError as e:
        Path(temp).unlink(missing_ok=True)
        raise PublishError(f"{target}: kan inte skriva filen: {e.strerror or e}") from e
