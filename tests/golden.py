"""Regenerate the golden files: `make golden`. Read `git diff tests/expected` before committing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

from nyhetsbrev.cli import cli

HERE = Path(__file__).parent
CASES = ("basic",)


def regenerate(case: str) -> Path:
    """Build tests/fixtures/<case> into tests/expected/<case>."""
    target = HERE / "expected" / case
    if target.exists():
        shutil.rmtree(target)
    result = CliRunner().invoke(
        cli, ["build", "--root", str(HERE / "fixtures" / case), "--out", str(target)]
    )
    if result.exit_code != 0:
        sys.exit(result.output)
    # The search index is Pagefind's own output (binary, tied to its version): not reviewed.
    shutil.rmtree(target / "pagefind")
    return target


if __name__ == "__main__":
    for case in CASES:
        print(f"regenerated {regenerate(case).relative_to(HERE.parent)}")
