"""The archive's search index: Pagefind, run over the built pages before they are published.

Pagefind writes a static index (pagefind/) that the browser reads in small pieces; no
server answers searches and no query leaves the reader's browser. The `pagefind` package
from PyPI carries the binary (its `bin` extra), so no download happens at build time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nyhetsbrev import urls
from nyhetsbrev.build.publish import PublishError

FOLDER = urls.SEARCH
TIMEOUT = 120  # seconds; a year of issues takes well under one


CONFIGS = ("pagefind.toml", "pagefind.yml", "pagefind.yaml", "pagefind.json")  # read from cwd
# The pages Pagefind reads. Only the web pages carry data-pagefind-body, so the email.html
# copies were parsed and then left out: reading only index.html gives the same index in
# half the time.
PAGES = "**/index.html"


def build_index(site: Path, cache: Path | None = None) -> int:
    """Index the HTML pages in site into site/pagefind/; return the number of files written.

    With a cache folder, an index made from exactly the same pages (names and bytes), by
    the same Pagefind with the same settings, is copied from there instead: Pagefind's
    output depends on nothing else, so it is the same byte for byte. Every copied file is
    checked against the digest recorded when it was kept; one mismatch and Pagefind runs.
    """
    key = _key(site) if cache is not None else ""
    if cache is not None and _reuse(cache / key, site / FOLDER):
        return _count(site)
    _run(site)
    if cache is not None:
        _keep(site / FOLDER, cache, key)
    return _count(site)


def _count(site: Path) -> int:
    return sum(1 for p in (site / FOLDER).rglob("*") if p.is_file())


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


def _key(site: Path) -> str:
    """Return the digest of everything Pagefind's output is made from."""
    h = hashlib.sha256(b"pagefind-index 1")
    add_setup(h)
    for path in sorted(site.glob(PAGES)):
        if path.is_file():
            h.update(b"\0" + path.relative_to(site).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


MANIFEST = "manifest"


def _reuse(kept: Path, target: Path) -> bool:
    """Copy a kept index into target if every file is whole; False (and nothing) otherwise."""
    try:
        lines = (kept / MANIFEST).read_text("utf-8").splitlines()
        copies: list[tuple[str, bytes]] = []
        for line in lines:
            digest, _, rel = line.partition("  ")
            if not rel or rel.startswith("/") or ".." in rel.split("/"):
                return False
            data = (kept / "files" / rel).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
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


def _keep(index: Path, cache: Path, key: str) -> None:
    """Keep a copy of a fresh index under key, replacing older ones (quietly, on any error)."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".ny-", dir=cache))
        try:
            shutil.copytree(index, temp / "files")
            lines = [
                f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(index).as_posix()}"
                for p in sorted(index.rglob("*"))
                if p.is_file()
            ]
            (temp / MANIFEST).write_text("\n".join(lines) + "\n", "utf-8")
            for old in cache.iterdir():
                if old != temp:
                    shutil.rmtree(old, ignore_errors=True)
            os.rename(temp, cache / key)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    except OSError:
        return


def _run(site: Path) -> None:
    command = [
        *_pagefind(),
        "--site",
        str(site),
        "--output-subdir",
        FOLDER,
        "--glob",
        PAGES,
        "--quiet",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    except FileNotFoundError as e:
        raise PublishError(
            f"sökindexet kunde inte byggas: programmet {command[0]} finns inte; installera "
            "paketet pagefind med dess binärfil: pip install 'pagefind[bin]'"
        ) from e
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PublishError(f"sökindexet kunde inte byggas: {e}") from e
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        hint = (
            "installera paketet pagefind med dess binärfil: pip install 'pagefind[bin]'"
            if "No module named pagefind" in done.stderr or "binary" in done.stderr.lower()
            else (detail[-1] if detail else f"pagefind avslutades med status {done.returncode}")
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
