"""The archive's search index: Pagefind, run over the built pages before they are published.

Pagefind writes a static index (pagefind/) that the browser reads in small pieces; no
server answers searches and no query leaves the reader's browser. The `pagefind` package
from PyPI carries the binary (its `bin` extra), so no download happens at build time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .publish import PublishError

FOLDER = "pagefind"
TIMEOUT = 120  # seconds; a year of issues takes well under one


def build_index(site: Path) -> int:
    """Index the HTML pages in site into site/pagefind/; return the number of files written."""
    command = [
        sys.executable,
        "-m",
        "pagefind",
        "--site",
        str(site),
        "--output-subdir",
        FOLDER,
        "--quiet",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
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
    return sum(1 for p in (site / FOLDER).rglob("*") if p.is_file())
