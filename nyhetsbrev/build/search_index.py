"""The archive's search index: Pagefind, one bundle per year, run over the built pages.

Pagefind writes a static index that the browser reads in small pieces; no server answers
searches and no query leaves the reader's browser. The `pagefind` package from PyPI carries
the binary (its `bin` extra), so no download happens at build time.

Each year's issue pages get a bundle of their own, in pagefind/<year>/, and
pagefind/bundles.json lists them, newest first: site.js loads the first and merges the
others into it (Pagefind's mergeIndex), so one search covers every year. Pagefind cannot
update an index in place, but a bundle made from exactly the same pages is the same byte
for byte: with a cache, an edit in one year runs Pagefind over that year's pages alone and
takes the other years' bundles from the cache. Only issue pages carry data-pagefind-body,
and every issue page lies in its year's folder, so the bundles hold every searchable page.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nyhetsbrev import urls
from nyhetsbrev.build.publish import PublishError

FOLDER = urls.SEARCH
BUNDLES = "bundles.json"  # in FOLDER: the bundles' folder names, newest year first
TIMEOUT = 120  # seconds; a year of issues takes well under one


CONFIGS = ("pagefind.toml", "pagefind.yml", "pagefind.yaml", "pagefind.json")  # read from cwd
# The pages Pagefind reads in a year's folder. Only the web pages carry data-pagefind-body,
# so the email.html copies were parsed and then left out: reading only index.html gives the
# same index in half the time.
PAGES = "**/index.html"
# Pagefind's ready-made interfaces: site.js uses none of them, so no bundle keeps them.
UNUSED = ("pagefind-ui.", "pagefind-modular-ui.", "pagefind-component-ui.", "pagefind-highlight.")
# What only the bundle site.js loads (the newest year's) needs: a bundle merged into it
# gives only its index, so its copies of the program are left out of the output.
PROGRAM = ("pagefind.js", "pagefind-worker.js", "wasm.")


def build_index(site: Path, cache: Path | None = None) -> int:
    """Index the year folders' pages in site into site/pagefind/<year>/; return the number
    of files written.

    With a cache folder, a year's bundle made from exactly the same pages (names and
    bytes), by the same Pagefind with the same settings, is copied from there instead:
    Pagefind's output depends on nothing else, so it is the same byte for byte. Every
    copied file is checked against the digest recorded when it was kept; one mismatch and
    Pagefind runs for that year. Pagefind runs for the other years at the same time.
    """
    years = _years(site)
    setup = hashlib.sha256()
    add_setup(setup)
    keys = {year: _key(site, year, setup) for year in years} if cache is not None else {}
    newest = years[-1] if years else ""
    todo = [
        y
        for y in years
        if cache is None or not _reuse(cache / keys[y], _bundle(site, y), y == newest)
    ]
    _run(site, todo)
    for year in todo:
        _drop(_bundle(site, year), UNUSED)
        if cache is not None:
            _keep(_bundle(site, year), cache, keys[year])
        if year != newest:
            _drop(_bundle(site, year), PROGRAM)
    if cache is not None:
        _keep_only(cache, set(keys.values()))
    (site / FOLDER).mkdir(parents=True, exist_ok=True)
    (site / FOLDER / BUNDLES).write_text(json.dumps(sorted(years, reverse=True)) + "\n", "utf-8")
    return sum(1 for p in (site / FOLDER).rglob("*") if p.is_file())


def _drop(bundle: Path, names: tuple[str, ...]) -> None:
    for path in bundle.iterdir():
        if path.name.startswith(names) and path.is_file():
            path.unlink()


def _years(site: Path) -> list[str]:
    """Return the year folders (urls.issue_folder's first part) that hold a web page."""
    return sorted(
        p.name
        for p in site.iterdir()
        if p.name.isdigit() and p.is_dir() and next(p.glob(PAGES), None) is not None
    )


def _bundle(site: Path, year: str) -> Path:
    return site / FOLDER / year


def add_setup(h: hashlib._Hash) -> None:
    """Add what Pagefind's output depends on besides the pages: its version, its config
    files and PAGEFIND_ environment variables."""
    for name in ("pagefind", "pagefind_bin"):
        try:
            h.update(f"\0{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"\0{name}=-".encode())
    for config in CONFIGS:
        path = Path.cwd() / config
        h.update(b"\0" + config.encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"-")
    for name, value in sorted(os.environ.items()):
        if name.upper().startswith("PAGEFIND"):
            h.update(f"\0{name}={value}".encode())


def _key(site: Path, year: str, setup: hashlib._Hash) -> str:
    """Return the digest of everything a year's bundle is made from."""
    h = setup.copy()
    h.update(f"\0pagefind-bundle 2\0{year}".encode())
    for path in sorted((site / year).glob(PAGES)):
        if path.is_file():
            h.update(b"\0" + path.relative_to(site).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


MANIFEST = "manifest"


def _reuse(kept: Path, target: Path, program: bool) -> bool:
    """Copy a kept bundle into target (with Pagefind's program only if program) if every
    file is whole; False (and nothing) otherwise."""
    try:
        if kept.is_symlink():
            return False
        manifest = _read_plain(kept, MANIFEST)
        if manifest is None:
            return False
        lines = manifest.decode("utf-8").splitlines()
        copies: list[tuple[str, bytes]] = []
        for line in lines:
            digest, _, rel = line.partition("  ")
            if not rel or rel.startswith("/") or ".." in rel.split("/"):
                return False
            if not program and rel.startswith(PROGRAM):
                continue
            data = _read_plain(kept / "files", rel)
            if data is None or hashlib.sha256(data).hexdigest() != digest:
                return False
            copies.append((rel, data))
    except (OSError, UnicodeDecodeError):
        return False
    if not copies:
        return False
    for rel, data in copies:
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return True


def _read_plain(folder: Path, rel: str) -> bytes | None:
    """Return the bytes of the regular file rel under folder, None if it or a folder on
    its way is a symbolic link (a kept bundle never publishes a file from elsewhere)."""
    path = folder
    for part in rel.split("/"):
        if path.is_symlink():
            return None
        path = path / part
    # ELOOP on a link; a named pipe does not block
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def _keep(bundle: Path, cache: Path, key: str) -> None:
    """Keep a copy of a fresh bundle under key (quietly, on any error)."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".ny-", dir=cache))
        try:
            shutil.copytree(bundle, temp / "files")
            lines = [
                f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(bundle).as_posix()}"
                for p in sorted(bundle.rglob("*"))
                if p.is_file()
            ]
            (temp / MANIFEST).write_text("\n".join(lines) + "\n", "utf-8")
            shutil.rmtree(cache / key, ignore_errors=True)
            os.rename(temp, cache / key)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    except OSError:
        return


def _keep_only(cache: Path, keys: set[str]) -> None:
    """Remove the kept bundles this build did not use (quietly, on any error)."""
    try:
        for old in cache.iterdir():
            if old.name not in keys:
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return


def _run(site: Path, years: list[str]) -> None:
    """Run Pagefind for each year's pages, as many at once as there are cores (each run
    holds its pages in memory); raise PublishError if one fails."""
    at_once = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    waiting = list(reversed(years))
    started: list[subprocess.Popen[str]] = []
    try:
        while waiting and len(started) < at_once:
            started.append(_start(site, waiting.pop()))
        for process in started:  # grows while it is walked: the next year starts as one ends
            _finish(process)
            if waiting:
                started.append(_start(site, waiting.pop()))
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


def _start(site: Path, year: str) -> subprocess.Popen[str]:
    command = [
        *_pagefind(),
        "--site",
        str(site),
        "--output-subdir",
        f"{FOLDER}/{year}",
        "--glob",
        f"{year}/{PAGES}",
        "--quiet",
    ]
    try:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as e:
        raise PublishError(
            f"sökindexet kunde inte byggas: programmet {command[0]} finns inte; installera "
            "paketet pagefind med dess binärfil: pip install 'pagefind[bin]'"
        ) from e
    except OSError as e:
        raise PublishError(f"sökindexet kunde inte byggas: {e}") from e


def _finish(process: subprocess.Popen[str]) -> None:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise PublishError(f"sökindexet kunde inte byggas: {e}") from e
    if process.returncode != 0:
        detail = (stderr or stdout).strip().splitlines()
        hint = (
            "installera paketet pagefind med dess binärfil: pip install 'pagefind[bin]'"
            if "No module named pagefind" in stderr or "binary" in stderr.lower()
            else (detail[-1] if detail else f"pagefind avslutades med status {process.returncode}")
        )
        raise PublishError(f"sökindexet kunde inte byggas: {hint}")


def _pagefind() -> list[str]:
    """Return the command that runs Pagefind: its binary, found as `python -m pagefind`
    finds it (without starting Python a second time), else that module."""
    try:
        from pagefind.service import get_executable

        found = get_executable()
    except ImportError:
        found = None
    return [str(found)] if found is not None else [sys.executable, "-m", "pagefind"]
