"""How long the preview takes to re-render one 15-item issue after an item is edited.

What is timed is the work `serve` does when a file is saved: re-read the issue's folder,
check it, render the email (MJML, inlining), text, .eml and web version, and lint it. The
file-watcher's own delay (it waits 50 ms for more changes) is not included. Target: under
100 ms.

    python benchmarks/preview.py [--runs N]

`rerender_median(runs)` returns the median in milliseconds, for benchmarks/bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import ITEMS_PER_ISSUE, write_tree  # noqa: E402

from nyhetsbrev.preview.serve import Preview  # noqa: E402

YEAR = 2010
KEY = f"{YEAR}/{YEAR}-03"


def rerender_times(runs: int = 20) -> list[float]:
    """Return the re-render time of each run, in milliseconds."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_tree(root, years=1, first_year=YEAR)
        preview = Preview(root)
        view = preview.view(KEY)  # the first render also fills Jinja's and the parsers' caches
        assert view is not None and view.rendered is not None and not view.errors
        assert view.items == ITEMS_PER_ISSUE
        item = root / "newsletters" / KEY / "text-07.md"
        original = item.read_text("utf-8")
        times = []
        for run in range(runs):
            item.write_text(original + f"\nÄndring nummer {run}.\n", "utf-8")
            started = time.perf_counter()
            preview.changed([item])
            view = preview.view(KEY)
            times.append((time.perf_counter() - started) * 1000)
            assert view is not None and view.rendered is not None
            assert f"Ändring nummer {run}." in view.rendered.text
        return times


def rerender_median(runs: int = 20) -> float:
    """Return the median re-render time of a 15-item issue after an edit, in milliseconds."""
    return statistics.median(rerender_times(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times = rerender_times(args.runs)
    print(
        f"Re-render of a {ITEMS_PER_ISSUE}-item issue after an edit, {args.runs} runs: "
        f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
        f"max {max(times):.1f} ms (target: under 100 ms)"
    )


if __name__ == "__main__":
    main()
