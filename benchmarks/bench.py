"""The build benchmark (`make bench`): synthetic trees of 1, 2, 4 and 10 years, built and timed.

Each build runs in a fresh process, so the wall time includes the interpreter's start-up and
every import, and the peak memory (os.wait4's ru_maxrss) is that of the build alone. Stage
times come from the pipeline's optional stopwatch (nyhetsbrev.timing); the rendering stages
(MJML, inlining, text, message, web) are CPU seconds summed over the worker processes, while
"render" is the wall time of rendering all issues. Each size is first built into an empty
folder ("first build": every file is written), then rebuilt --repeat times into the same
folder (unchanged files are linked from the previous output); the fastest rebuild is shown,
with the median: the machine is shared, and the minimum is the least disturbed run. These
builds do not use the build cache (every issue is rendered); the incremental figures are in
benchmarks/figures.py's table.

    python benchmarks/bench.py [--years 1,2,4,10] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(REPO))

from benchmarks.synthetic import write_tree  # noqa: E402

STAGES = ("load", "check", "mjml", "inlining", "text", "message", "web", "lint", "feeds", "writing")
TARGET_WALL, TARGET_MB, TARGET_HELP_MS = 3.0, 250, 250
NODE_MJML = REPO / "benchmarks" / "node_modules" / "mjml"


def child(root: Path, out: Path, emit_mjml: bool) -> None:
    """Build root into out inside this process and print the stage times as JSON."""
    from nyhetsbrev.build.pipeline import build
    from nyhetsbrev.timing import Timings

    timings = Timings()
    checked, files = build(root, out, emit_mjml=emit_mjml, timings=timings, use_cache=False)
    print(
        json.dumps({"stages": timings.seconds, "files": files, "items": len(checked.content.items)})
    )


def measure(root: Path, out: Path, emit_mjml: bool = False) -> dict:
    """Build in a fresh process; return its wall time, peak memory and stage times."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), str(out)]
    command += ["--emit-mjml"] if emit_mjml else []
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            sys.exit(f"build of {root} failed:\n{stderr.read().decode()}")
        result = json.loads(stdout.read())
    return result | {"wall": wall, "peak_mb": usage.ru_maxrss / 1024}


def best(runs: list[dict]) -> dict:
    """Return the fastest run, with the spread of wall times."""
    fastest = min(runs, key=lambda r: r["wall"])
    return fastest | {
        "median": statistics.median(r["wall"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
    }


def help_time(repeat: int = 10) -> tuple[float, float]:
    """Return the fastest and median wall time of `build.py --help`, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "build.py", "--help"], cwd=REPO, check=True, stdout=subprocess.DEVNULL
        )
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def preview_time() -> str:
    """Return the preview's re-render time of one 15-item issue (benchmarks/preview.py)."""
    try:
        from benchmarks.preview import rerender_median
    except ImportError as e:
        return f"not measured ({e})"
    return f"{rerender_median():.0f} ms (median of 20 edits)"


def mjml_comparison(mjml_files: list[Path]) -> str:
    """Time MRML (and MRML + premailer) against the official MJML compiler on the same files."""
    from mjml import mjml2html

    from nyhetsbrev.build.render import email_css, environment, inline_css

    if not mjml_files:
        return "no MJML files were written"
    sources = [p.read_text("utf-8") for p in mjml_files]
    mjml2html(sources[0], disable_comments=True, fonts={})
    start = time.perf_counter()
    compiled = [mjml2html(s, disable_comments=True, fonts={}) for s in sources]
    mrml = time.perf_counter() - start
    css = email_css(environment(None))
    start = time.perf_counter()
    for html in compiled:
        inline_css(html, css)
    premailer = time.perf_counter() - start
    lines = [
        f"MRML (mjml-python): {mrml:.3f} s for {len(sources)} files "
        f"({mrml / len(sources) * 1000:.1f} ms each); premailer on its output: "
        f"{premailer:.3f} s ({premailer / len(sources) * 1000:.1f} ms each)"
    ]
    node = _node_mjml(mjml_files)
    if node is None:
        lines.append(
            "official MJML compiler: not measured (node or benchmarks/node_modules/"
            "mjml missing; install with `npm install --prefix benchmarks mjml@4`)"
        )
    else:
        seconds = node["seconds"]
        lines.append(
            f"official MJML {node['version']} (node, in one process, start-up "
            f"excluded): {seconds:.3f} s ({seconds / len(sources) * 1000:.1f} ms each)"
            f" = {seconds / mrml:.0f}x MRML, {seconds / (mrml + premailer):.1f}x "
            "MRML + premailer"
        )
    return "\n".join(lines)


def _node_mjml(files: list[Path]) -> dict | None:
    node = shutil.which("node")
    if node is None or not NODE_MJML.is_dir():
        return None
    script = REPO / "benchmarks" / "mjml_time.js"
    result = subprocess.run(
        [node, str(script), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=REPO / "benchmarks",
    )
    if result.returncode != 0:
        print(f"official MJML failed: {result.stderr.strip()[:500]}", file=sys.stderr)
        return None
    version = json.loads((NODE_MJML / "package.json").read_text())["version"]
    return json.loads(result.stdout) | {"version": version}


def machine() -> str:
    """Return a one-line description of this machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cores} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def table(rows: list[dict]) -> str:
    """Return the results as two Markdown tables: totals, and seconds per stage."""
    head = (
        "| years | issues | items | files | first build s | rebuild s (median) | peak MB "
        "| items/s | ms/item |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['years']} | {r['years'] * 12} | {r['items']} | {r['files']} | "
            f"{r['cold']:.2f} | {r['wall']:.2f} ({r['median']:.2f}) | "
            f"{r['peak_mb']:.0f} | {r['items'] / r['wall']:.0f} | "
            f"{r['wall'] / r['items'] * 1000:.2f} |"
        )
    lines += [
        "",
        "| years | " + " | ".join(STAGES) + " | render (wall) | writing (first) |",
        "|---:|" + "---:|" * (len(STAGES) + 2),
    ]
    for r in rows:
        stages = r["stages"]
        lines.append(
            f"| {r['years']} | "
            + " | ".join(f"{stages.get(s, 0):.2f}" for s in STAGES)
            + f" | {stages.get('render', 0):.2f} | {r['cold_writing']:.2f} |"
        )
    return "\n".join(lines)


def growth(rows: list[dict]) -> str:
    """Return how the cost per item changes from the smallest to the largest tree."""
    if len(rows) < 2:
        return ""
    small, large = rows[0], rows[-1]
    # Subtract the fixed start-up cost so the slope is the cost that grows with items.
    slope = (large["wall"] - small["wall"]) / (large["items"] - small["items"])
    fixed = small["wall"] - slope * small["items"]
    return (
        f"growth: {slope * 1000:.2f} ms per extra item, {fixed:.2f} s fixed "
        f"(start-up and imports); per item {small['wall'] / small['items'] * 1000:.2f} ms "
        f"at {small['items']} items, {large['wall'] / large['items'] * 1000:.2f} ms at "
        f"{large['items']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--years", default="1,2,4,10", help="tree sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="builds per size (fastest shown)")
    parser.add_argument("--keep", type=Path, help="generate the trees here and keep them")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--emit-mjml", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.emit_mjml)
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="nyhetsbrev-bench-"))
    try:
        run(work, [int(y) for y in args.years.split(",")], args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, sizes: list[int], repeat: int) -> None:
    print(f"machine: {machine()}")
    rows = []
    for years in sizes:
        root = work / f"{years}y"
        if not root.exists():
            write_tree(root, years)
        out = work / f"{years}y-public"
        shutil.rmtree(out, ignore_errors=True)
        cold = measure(root, out)  # into an empty folder: every file is new
        runs = [measure(root, out) for _ in range(repeat)]  # unchanged files are kept
        rows.append(
            best(runs)
            | {
                "years": years,
                "cold": cold["wall"],
                "cold_writing": cold["stages"].get("writing", 0),
            }
        )
        print(f"  built {years} year(s): {rows[-1]['wall']:.2f} s", file=sys.stderr)
    print(table(rows))
    print(growth(rows))
    fastest, median = help_time()
    print(f"build.py --help: {fastest:.0f} ms (median {median:.0f} ms)")
    print(f"preview re-render of one issue after an edit: {preview_time()}")
    largest = work / f"{sizes[-1]}y"
    mjml_out = work / "mjml-public"
    measure(largest, mjml_out, emit_mjml=True)
    print(mjml_comparison(sorted(mjml_out.rglob("email.mjml"))))
    verdicts(rows, fastest)
    from benchmarks.figures import table as figures

    print()
    print("The issue's figures, each beside its reference (benchmarks/figures.py):")
    print(figures(work, sizes[-1], repeat, 1000))


def verdicts(rows: list[dict], help_ms: float) -> None:
    """Print each target with 'met' or 'NOT met'."""
    largest = rows[-1]

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"target wall < {TARGET_WALL} s at {largest['items']} items: "
        f"{verdict(largest['wall'] < TARGET_WALL)} ({largest['wall']:.2f} s)"
    )
    print(
        f"target peak memory < {TARGET_MB} MB: "
        f"{verdict(largest['peak_mb'] < TARGET_MB)} ({largest['peak_mb']:.0f} MB)"
    )
    print(
        f"target --help < {TARGET_HELP_MS} ms: {verdict(help_ms < TARGET_HELP_MS)} "
        f"({help_ms:.0f} ms)"
    )


if __name__ == "__main__":
    main()
