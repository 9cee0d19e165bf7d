"""Paired runs of an older revision and this checkout on the same synthetic tree.

    python benchmarks/paired.py --base REV [--years 10] [--repeat 3] [--recipients 1000]

The base revision is exported with `git archive` into a temporary folder and run from
there; each figure alternates base and current runs, so both see the same machine load.
Prints base and current medians: clean build, unchanged rebuild, one-item rebuild (wall
seconds), peak memory of the whole process tree, and the list send rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.figures import timed_process  # noqa: E402
from benchmarks.synthetic import write_tree  # noqa: E402

BUILD = (
    "import sys; from pathlib import Path; from nyhetsbrev.build.pipeline import build; "
    "build(Path(sys.argv[1]), Path(sys.argv[2]))"
)


def export(rev: str, folder: Path) -> Path:
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def build(src: Path, root: Path, out: Path) -> tuple[float, float]:
    env = dict(os.environ, PYTHONPATH=str(src))
    return timed_process([sys.executable, "-c", BUILD, str(root), str(out)], cwd=src, env=env)


def send_rate(src: Path, n: int) -> float:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from benchmarks import send; "
        "send.REPO = __import__('pathlib').Path(sys.argv[1]); "
        "send.FIXTURE = send.REPO / 'tests/fixtures/basic'; "
        "wall, count = send.list_send(int(sys.argv[2])); print(count / wall)"
    )
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run(
        [sys.executable, "-c", code, str(src), str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=src,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nyhetsbrev-paired-"))
    try:
        sources = {"base": export(args.base, work / "base"), "current": REPO}
        print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeat} paired runs")
        results: dict[str, dict[str, list[float]]] = {k: {} for k in sources}
        for name in sources:
            write_tree(work / f"tree-{name}", args.years)
        for n in range(args.repeat):
            for name, src in sources.items():
                root, out = work / f"tree-{name}", work / f"out-{name}"
                r = results[name]
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(root / ".nyhetsbrev", ignore_errors=True)
                wall, peak = build(src, root, out)
                r.setdefault("clean s", []).append(wall)
                r.setdefault("peak MiB", []).append(peak)
                r.setdefault("unchanged s", []).append(build(src, root, out)[0])
                item = root / "newsletters" / "2012" / "2012-06" / "text-03.md"
                item.write_text(item.read_text("utf-8") + f"\nÄndring {n}.\n", "utf-8")
                r.setdefault("one item s", []).append(build(src, root, out)[0])
                r.setdefault("send msg/s", []).append(send_rate(src, args.recipients))
        print("| figure | base | current |\n|---|---:|---:|")
        for key in results["base"]:
            b = statistics.median(results["base"][key])
            c = statistics.median(results["current"][key])
            print(f"| {key} | {b:.2f} | {c:.2f} |")
        print(f"load average after {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
