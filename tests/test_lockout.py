"""Builds that must not trust what they find: another build into the same output, a linked
template folder, a hand-made entry in the content root's cache."""

from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path, PosixPath

import pytest

from nyhetsbrev.build import cache, memo, pipeline
from nyhetsbrev.content.models import Asset

from .conftest import FIXTURES, REPO, files


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "build.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_cli(root: Path, out: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return cli("build", "--root", str(root), "--out", str(out), timeout=timeout)


# --- two builds into one output ----------------------------------------------------------


HOLD = """
import sys, time
from pathlib import Path
from nyhetsbrev.build.publish import output_lock
with output_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_build_into_the_same_output_waits_then_refuses(tree, tmp_path):
    out = tmp_path / "public"
    assert build_cli(tree, out).returncode == 0
    before = files(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        (tree / "newsletter.toml").write_text(
            (tree / "newsletter.toml").read_text(encoding="utf-8") + "\n", encoding="utf-8"
        )
        staging = tmp_path / ".public-ny-levande"
        staging.mkdir()  # what a running build writes: only the lock's holder may remove it
        result = build_cli(tree, out)
        assert result.returncode == 1
        assert f"{out}: ett annat bygge skriver redan till mappen" in result.stderr
        assert "Traceback" not in result.stderr
        assert staging.is_dir()
        assert files(out) == before
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed build: the kernel lets the lock go
        holder.wait()
    result = build_cli(tree, out)
    assert result.returncode == 0, result.stderr
    assert not staging.exists()  # the next build holds the lock: leftovers go


def test_two_real_builds_into_one_output_never_publish_half(tmp_path):
    tree = tmp_path / "innehall"  # the project's own content: big enough to overlap
    for name in ("newsletter.toml", "campaigns", "newsletters"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, tree / name)
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy(REPO / name, tree / name)
    out = tmp_path / "public"
    pipeline.build(tree, tmp_path / "clean", use_cache=False)
    shutil.rmtree(tree / cache.FOLDER, ignore_errors=True)
    command = [sys.executable, "build.py", "build", "--root", str(tree), "--out", str(out)]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.4)
    second = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors = [p.communicate(timeout=120)[1].decode() for p in (first, second)]
    assert first.returncode == 0, errors[0]
    assert second.returncode in (0, 1), errors[1]
    if second.returncode == 1:
        assert "ett annat bygge skriver redan till mappen" in errors[1]
    assert "Traceback" not in "".join(errors)
    assert files(out) == files(tmp_path / "clean")
    assert not list(tmp_path.glob(".public-ny-*"))


# --- a linked folder under templates/ ------------------------------------------------------


def test_a_linked_template_folder_is_read_again(tmp_path):
    tree = tmp_path / "innehall"
    shutil.copytree(FIXTURES / "basic", tree, ignore=shutil.ignore_patterns(".nyhetsbrev"))
    source = tree / "mallkalla" / "email"
    source.mkdir(parents=True)
    shipped = REPO / "nyhetsbrev" / "templates" / "email" / "issue.txt"
    (source / "issue.txt").write_bytes(shipped.read_bytes())
    (tree / "templates").mkdir(exist_ok=True)
    (tree / "templates" / "email").symlink_to("../mallkalla/email", target_is_directory=True)
    pipeline.build(tree, tmp_path / "public")
    (source / "issue.txt").write_text(
        shipped.read_text(encoding="utf-8") + "\nRADX-SLUT\n", encoding="utf-8"
    )
    pipeline.build(tree, tmp_path / "public")
    pipeline.build(tree, tmp_path / "clean", use_cache=False)
    built = files(tmp_path / "public")
    assert any(b"RADX-SLUT" in data for name, data in built.items() if name.endswith(".txt"))
    assert built == files(tmp_path / "clean")


# --- hand-made cache entries -----------------------------------------------------------------


def craft(root: Path, change) -> bool:
    """Rewrite the first check entry holding an issue with items through change(issue)."""
    folder = root / cache.FOLDER / "checked"
    for path in sorted(folder.iterdir()):
        if not path.name.startswith("check-"):
            continue
        fields = cache.unpack(path.read_bytes(), path.name, 1)
        assert fields is not None
        issue, problems = memo.loads(fields[0])
        if issue is None or not issue.items:
            continue
        path.write_bytes(cache.pack(path.name, [memo.dumps((change(issue), problems))]))
        return True
    return False


def forget_builds(root: Path) -> None:
    shutil.rmtree(root / cache.FOLDER / "builds", ignore_errors=True)


def stolen(issue):
    item = issue.items[0]
    asset = Asset(
        PosixPath("/etc/passwd"), f"{issue.year}/{issue.id}/stolen.pdf", "https://x/stolen.pdf", 10
    )
    body = dataclasses.replace(item.body, assets=(asset,))
    return dataclasses.replace(
        issue, items=(dataclasses.replace(item, body=body),) + issue.items[1:]
    )


def not_a_list(issue):
    object.__setattr__(issue, "items", 5)
    return issue


def deep(issue):
    x: object = "x"
    for _ in range(60):
        x = (x, x)
    object.__setattr__(issue, "preheader", x)
    return issue


@pytest.mark.parametrize("change", [stolen, not_a_list, deep], ids=["fil", "typ", "djup"])
def test_a_hand_made_entry_is_not_trusted(tree, tmp_path, change):
    out = tmp_path / "public"
    assert build_cli(tree, out).returncode == 0
    assert craft(tree, change)
    forget_builds(tree)
    result = build_cli(tree, out, timeout=60)  # the deep entry hung the build (and ate memory)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    pipeline.build(tree, tmp_path / "clean", use_cache=False)
    built = files(out)
    assert not any(name.endswith("stolen.pdf") for name in built)
    assert built == files(tmp_path / "clean")


def test_an_oversized_memo_entry_is_not_read(tree, tmp_path):
    out = tmp_path / "public"
    pipeline.build(tree, out)
    assert craft(tree, lambda issue: dataclasses.replace(issue, preheader="x" * memo.MAX_ENTRY))
    forget_builds(tree)
    pipeline.build(tree, out)
    pipeline.build(tree, tmp_path / "clean", use_cache=False)
    assert files(out) == files(tmp_path / "clean")
