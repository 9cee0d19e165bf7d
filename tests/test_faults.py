"""Faults: folders that cannot be written, a full disk, a build killed mid-way, and builds in
processes with other hash seeds, time zones and locales. The previous output survives every
failure whole, and the error says in Swedish what happened.

The tests run as root here, so "cannot be written" uses what stops root too: a read-only
bind mount, the immutable attribute, and a file where a folder is expected. The full disk
is a real 1 MB tmpfs. A test that needs a privilege this machine lacks is skipped, saying so.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.synthetic import write_tree

from .conftest import FIXTURES, REPO, files

INTACT = "bygget avbröts, den tidigare utdatan är orörd"


def changed_tree(tmp_path: Path) -> Path:
    """Return a copy of the basic fixture whose build differs from the original's."""
    root = tmp_path / "andrad"
    shutil.copytree(FIXTURES / "basic", root, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    intro = root / "newsletters" / "2022" / "2022-10" / "issue.md"
    intro.write_text(intro.read_text("utf-8") + "\nEn ny mening.\n", "utf-8")
    return root


def published(built: Path, site: Path) -> tuple[Path, Path]:
    """Put a copy of the session's build of the basic fixture at site/public (a previous
    output); return (site, site/public)."""
    shutil.copytree(built, site / "public")
    return site, site / "public"


def mount(*args: str) -> None:
    """Run mount, or skip the test when this machine does not allow it."""
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} was refused: {result.stderr.strip()}")


@contextmanager
def mounted(*args: str, target: Path):
    mount(*args)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_read_only_output_folder_keeps_previous_output(built_basic, tmp_path):
    site, out = published(built_basic, tmp_path / "webb")
    before = files(out)
    with mounted("--bind", str(site), str(site), target=site):
        mount("-o", "remount,ro,bind", str(site))
        result = run_failing("build", "--root", changed_tree(tmp_path), "--out", out)
        assert result.stderr == (
            f"{out}: kan inte skriva utdata: filsystemet är skrivskyddat: "
            "välj en annan mapp med --out\n"
        )
    assert files(out) == before


def test_immutable_output_folder_keeps_previous_output(built_basic, tmp_path):
    site, out = published(built_basic, tmp_path / "webb")
    before = files(out)
    if subprocess.run(["chattr", "+i", str(site)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        result = run_failing("build", "--root", changed_tree(tmp_path), "--out", out)
    finally:
        subprocess.run(["chattr", "-i", str(site)], check=True)
    assert result.stderr == (
        f"{out}: kan inte skriva utdata: mappen får inte ändras "
        "(skrivskyddad?): välj en annan mapp med --out\n"
    )
    assert files(out) == before


@pytest.mark.parametrize(
    "where, message",
    [
        ("fil/public", "det finns en fil där en mapp behövs"),
        ("fil/under/public", "en del av sökvägen är en fil, inte en mapp"),
    ],
)
def test_file_where_a_folder_is_expected(tmp_path, where, message):
    (tmp_path / "fil").write_text("inte en mapp", "utf-8")
    out = tmp_path / where
    result = run_failing("build", "--root", FIXTURES / "basic", "--out", out)
    assert result.stderr == f"{out}: kan inte skriva utdata: {message}\n"
    assert (tmp_path / "fil").read_text("utf-8") == "inte en mapp"


def test_full_disk_keeps_previous_output(run, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk), target=disk):
        out = disk / "public"
        assert run("build", "--root", FIXTURES / "basic", "--out", out).exit_code == 0
        before = files(out)
        big = tmp_path / "stor"
        write_tree(big, 1)  # about 2.5 MB of output: it cannot fit beside the old one
        result = run_failing("build", "--root", big, "--out", out)
        assert result.stderr == f"{out}: {INTACT}: disken är full: frigör utrymme och bygg igen\n"
        assert files(out) == before
        assert sorted(p.name for p in disk.iterdir()) == ["public"], "staging left behind"


def run_failing(*args: str | Path):
    """Run the CLI expecting exit 1 without a traceback; return click's Result."""
    from click.testing import CliRunner

    from nyhetsbrev.cli import cli

    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result


# --- killed builds ----------------------------------------------------------------------------


def build_process(root: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "build.py", "build", "--root", str(root), "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def children(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is pid."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_sigkill_at_any_moment_leaves_a_whole_output(tmp_path):
    """Kill real builds at random moments, most of them while they publish."""
    trees = {name: tmp_path / name for name in ("a", "b")}
    write_tree(trees["a"], 2)  # 24 issues: rendered by worker processes
    write_tree(trees["b"], 2)
    # Another title changes every page and message, so that publishing rewrites every file.
    config = trees["b"] / "newsletter.toml"
    config.write_text(config.read_text("utf-8").replace('"Nyhetsbrevet"', '"Brevet"'), "utf-8")
    out = tmp_path / "public"
    expected, durations = {}, []
    for name in ("b", "a"):  # leaves a's output in place
        start = time.monotonic()
        assert build_process(trees[name], out).wait() == 0
        durations.append(time.monotonic() - start)
        expected[name] = files(out)
    assert expected["a"] != expected["b"]
    rng = random.Random(7)
    publishing = 0
    for attempt in range(10):
        process = build_process(trees["b" if attempt % 2 == 0 else "a"], out)
        if attempt < 3:  # anywhere in the build
            time.sleep(rng.uniform(0, max(durations)))
        else:  # soon after publishing began: its staging folder appeared beside out
            wait_for_staging(process, tmp_path)
            time.sleep(rng.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        publishing += bool(list(tmp_path.glob(".public-ny-*")))
        assert files(out) in (expected["a"], expected["b"]), f"mixed output after kill {attempt}"
    assert publishing >= 3, f"only {publishing} kills fell while the build published"
    final = build_process(trees["b"], out)
    assert final.wait() == 0, final.stderr.read().decode() if final.stderr else ""
    assert files(out) == expected["b"]
    assert list(tmp_path.glob(".public-*")) == [], "a killed build's staging folder remained"


def wait_for_staging(process: subprocess.Popen, folder: Path) -> None:
    """Return as soon as the build has begun publishing (or has ended)."""
    while process.poll() is None and not list(folder.glob(".public-ny-*")):
        time.sleep(0.002)


def test_killed_build_leaves_no_worker_processes(tmp_path):
    root = tmp_path / "innehall"
    write_tree(root, 2)
    process = build_process(root, tmp_path / "public")
    deadline = time.monotonic() + 30
    while not (workers := children(process.pid)) and process.poll() is None:
        assert time.monotonic() < deadline, "the build never started its workers"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the build ended before it could be killed"
    assert workers and gone(workers), f"workers outlived the killed build: {workers}"
    assert not (tmp_path / "public").exists()


# --- determinism ------------------------------------------------------------------------------

ENVIRONMENTS = [
    {"PYTHONHASHSEED": "0", "TZ": "UTC", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"},
    {"PYTHONHASHSEED": "4242", "TZ": "Pacific/Auckland", "LANG": "sv_SE.UTF-8", "LC_ALL": "POSIX"},
]


@pytest.mark.parametrize("case", ["basic", "synthetic"])
def test_builds_in_other_processes_give_identical_bytes(tmp_path, case):
    if case == "basic":
        root = FIXTURES / "basic"
    else:
        root = tmp_path / "innehall"
        write_tree(root, 2)  # many issues: the parallel path
    outputs = []
    for number, settings in enumerate(ENVIRONMENTS):
        out = tmp_path / f"public-{number}"
        env = {**os.environ, **settings}
        result = subprocess.run(
            [sys.executable, "build.py", "build", "--root", str(root), "--out", str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
        )
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(files(out))
    assert outputs[0].keys() == outputs[1].keys()
    different = [name for name in outputs[0] if outputs[0][name] != outputs[1][name]]
    assert different == []
