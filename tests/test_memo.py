"""What a rebuild does not do again: parse and check unchanged folders, or build at all."""

from __future__ import annotations

import os
import pickle
import shutil
import time
from pathlib import Path

import pytest

from nyhetsbrev.build import cache, memo, pipeline
from nyhetsbrev.errors import ContentError
from nyhetsbrev.timing import Timings


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def inodes(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_ino, p.stat().st_ctime_ns)
        for p in sorted(folder.rglob("*"))
    }


def checked_entries(root: Path) -> dict[str, int]:
    """Return the memo's entries with their inodes (an entry written again gets a new one)."""
    folder = root / cache.FOLDER / "checked"
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def build(root: Path, out: Path, strict: bool = False) -> tuple[Timings, pipeline.Checked]:
    timings = Timings()
    checked, _ = pipeline.build(root, out, strict=strict, timings=timings)
    return timings, checked


def same_as_clean(root: Path, tmp_path: Path) -> None:
    pipeline.build(root, tmp_path / "clean", use_cache=False)
    assert files(tmp_path / "public") == files(tmp_path / "clean")


@pytest.fixture
def warm(tree: Path, tmp_path: Path) -> Path:
    pipeline.build(tree, tmp_path / "public")
    return tree


def test_nothing_changed_builds_nothing(warm, tmp_path):
    out = tmp_path / "public"
    before = inodes(out)
    timings, checked = build(warm, out)
    assert "load" not in timings.seconds and "render" not in timings.seconds
    assert inodes(out) == before  # not a file written, linked or replaced
    _, clean = build(warm, tmp_path / "clean")
    assert pipeline.summary(checked.content) == pipeline.summary(clean.content)
    assert checked.warnings == clean.warnings and checked.drafts == clean.drafts
    same_as_clean(warm, tmp_path)


@pytest.mark.parametrize("change", ["edited", "removed", "added"])
def test_an_output_changed_by_hand_is_built_again(warm, tmp_path, change):
    out = tmp_path / "public"
    page = out / "2022/2022-03/index.html"
    if change == "edited":
        page.write_bytes(page.read_bytes().replace(b"<", b"< ", 1))
    elif change == "removed":
        page.unlink()
    else:
        (out / "extra.html").write_text("<p>hej</p>", "utf-8")
    timings, _ = build(warm, out)
    assert "load" in timings.seconds
    same_as_clean(warm, tmp_path)


def test_a_new_option_is_a_new_build(warm, tmp_path):
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8").replace("type: event", "type: event\nokand: 1"))
    _, checked = build(warm, tmp_path / "public")
    assert "unknown-key" in [p.rule for p in checked.warnings]
    with pytest.raises(ContentError) as e:  # --strict: the warning fails the build
        build(warm, tmp_path / "public", strict=True)
    assert "webbinarium.md:8:" in str(e.value)


def test_a_corrupt_or_foreign_build_record_is_not_trusted(warm, tmp_path):
    records = list((warm / cache.FOLDER / "builds").iterdir())
    assert len(records) == 1
    data = records[0].read_bytes()
    for damaged in (data[:-1] + bytes([data[-1] ^ 1]), data[:200], b""):
        records[0].write_bytes(damaged)
        timings, _ = build(warm, tmp_path / "public")
        assert "load" in timings.seconds
    # Whole, but written by another version of the tool: another fingerprint in the header.
    data = records[0].read_bytes()
    records[0].write_bytes(data.replace(cache.fingerprint().encode(), b"0" * 64, 1))
    timings, _ = build(warm, tmp_path / "public")
    assert "load" in timings.seconds
    same_as_clean(warm, tmp_path)


def test_a_changed_file_is_read_and_checked_again(warm, tmp_path):
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8").replace("date: 2022-03-14", "date: 2022-03-34"))
    with pytest.raises(ContentError) as e:
        build(warm, tmp_path / "public")
    errors = [(p.path, p.line) for p in e.value.problems if p.severity == "error"]
    assert errors == [("newsletters/2022/2022-03/webbinarium.md", 3)]


def test_unchanged_folders_are_not_checked_again_and_keep_their_findings(warm, tmp_path):
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8").replace("type: event", "type: event\nokand: 1"))
    _, first = build(warm, tmp_path / "public")
    kept = checked_entries(warm)
    other = warm / "newsletters/2021/2021-11/orange-week.md"
    other.write_text(other.read_text("utf-8") + "\nEn mening till.\n", "utf-8")
    _, second = build(warm, tmp_path / "public")
    after = checked_entries(warm)
    reused = {name for name in kept if after.get(name) == kept[name]}
    assert len(reused) == 4  # load and check of 2022-03 and 2022-10, not written again
    assert [(p.path, p.line, p.message) for p in second.warnings] == [
        (p.path, p.line, p.message) for p in first.warnings
    ]
    unknown = [p for p in second.warnings if p.rule == "unknown-key"]
    assert [(p.path, p.line) for p in unknown] == [("newsletters/2022/2022-03/webbinarium.md", 8)]
    same_as_clean(warm, tmp_path)


def test_a_removed_campaign_makes_a_cached_check_an_error(warm, tmp_path):
    (warm / "campaigns/svartsjuka.md").unlink()
    with pytest.raises(ContentError) as e:
        build(warm, tmp_path / "public")
    found = {(p.path, p.line) for p in e.value.problems}
    assert ("newsletters/2022/2022-03/svartsjuka.md", 5) in found
    assert ("newsletters/2022/2022-10/valj-att-sluta.md", 5) in found


def test_a_config_change_checks_every_folder_again(warm, tmp_path):
    kept = checked_entries(warm)
    config = warm / "newsletter.toml"
    config.write_text(config.read_text("utf-8").replace('title = "', 'title = "Nya ', 1))
    build(warm, tmp_path / "public")
    after = checked_entries(warm)
    assert len(after) == 6
    assert {n for n in after if n.startswith("load-")} == {n for n in kept if n.startswith("load-")}
    assert not {n for n in after if n.startswith("check-")} & set(kept)
    same_as_clean(warm, tmp_path)


def test_a_corrupt_entry_is_read_and_checked_again(warm, tmp_path):
    folder = warm / cache.FOLDER / "checked"
    shutil.rmtree(warm / cache.FOLDER / "builds")
    for n, path in enumerate(sorted(folder.iterdir())):
        data = path.read_bytes()
        path.write_bytes([data[:-3] + b"xyz", data[:150], b""][n % 3])
    timings, _ = build(warm, tmp_path / "public")
    assert all(memo.Memo.open(warm)._get(p.name) is not None for p in folder.iterdir())
    same_as_clean(warm, tmp_path)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_an_entry_never_runs_code(warm, tmp_path, monkeypatch):
    """A whole entry of the right version whose pickle calls a function is not used."""
    monkeypatch.chdir(tmp_path)
    folder = warm / cache.FOLDER / "checked"
    shutil.rmtree(warm / cache.FOLDER / "builds")
    for path in folder.iterdir():
        path.write_bytes(cache.pack(path.name, [pickle.dumps((Evil(), []))]))
    build(warm, tmp_path / "public")
    assert not (tmp_path / "pwned").exists()
    same_as_clean(warm, tmp_path)


def test_values_survive_an_entry(tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where an unsafe reader would leave its file
    checked = pipeline.load_content(tree)
    assert memo.loads(memo.dumps(checked.content)) == checked.content
    with pytest.raises(ValueError):
        memo.loads(pickle.dumps(Evil()))
    assert not (tmp_path / "pwned").exists()


def test_findings_are_the_same_from_the_memo(tree, tmp_path):
    """A folder whose issue.md cannot be read: load's error only, built twice."""
    (tree / "newsletters/2022/2022-10/issue.md").write_bytes(b"---\ndate: 2022-10-01\xff\n---\n")
    found = []
    for _ in range(2):
        with pytest.raises(ContentError) as e:
            build(tree, tmp_path / "public")
        found.append([str(p) for p in e.value.problems])
    assert found[0] == found[1]
    issue_md = [p for p in found[0] if p.startswith("newsletters/2022/2022-10/issue.md")]
    assert len(issue_md) == 1 and "UTF-8" in issue_md[0]
    assert len(checked_entries(tree)) == 6


def test_every_part_of_an_entry_is_checked(tree):
    """The validators made per type hint refuse a wrong part wherever it sits."""
    import dataclasses
    import datetime as dt
    from pathlib import PosixPath

    from nyhetsbrev.content.models import Asset, Issue
    from nyhetsbrev.errors import Problem

    checked = pipeline.load_content(tree)
    issue = next(i for i in checked.content.issues if i.items)
    item = issue.items[0]
    hint = tuple[Issue | None, list[Problem]]
    problem = Problem("a.md", 1, "fel")
    assert memo.valid((issue, [problem]), hint, tree)
    assert memo.valid((None, []), hint, tree)

    def with_item(**changes):
        return dataclasses.replace(issue, items=(dataclasses.replace(item, **changes),))

    def asset(source, target):
        return Asset(PosixPath(source), target, "https://x/a.pdf", 1)

    def with_asset(a):
        return with_item(body=dataclasses.replace(item.body, assets=(a,)))

    inside = tree / "newsletters" / "fil.pdf"
    assert memo.valid((with_asset(asset(inside, "2022/a.pdf")), []), hint, tree)
    bad = [
        dataclasses.replace(issue, items=list(issue.items)),  # a list for a tuple
        dataclasses.replace(issue, items=(*issue.items, "x")),
        with_item(campaigns=("a", 1)),  # tuple[str, ...]
        with_item(delmal=(1, "2")),  # tuple[int, ...]
        with_item(lines={"title": "1"}),  # dict[str, int]
        with_item(lines={1: 1}),
        with_item(start="2022-03-14"),  # datetime | None
        with_item(date=None),
        with_item(image_asset="x"),  # Asset | None
        with_asset(asset("/etc/passwd", "2022/a.pdf")),  # outside the root
        with_asset(asset(inside, "../a.pdf")),  # outside the output
        with_asset(asset(inside, "/a.pdf")),
        with_asset(Asset("fil.pdf", "2022/a.pdf", "https://x", 1)),  # a str for a Path
        dataclasses.replace(issue, date=dt.datetime(2022, 1, 1).time()),
    ]
    for n, value in enumerate(bad):
        assert not memo.valid((value, []), hint, tree), n
    assert not memo.valid((issue, [problem, "fel"]), hint, tree)
    assert not memo.valid((issue, (problem,)), hint, tree)
    assert not memo.valid((issue, [], None), hint, tree)  # a tuple of another length
    assert not memo.valid((issue, [dataclasses.replace(problem, line="1")]), hint, tree)
    # Front matter (no declared type): walked for its size and its depth.
    wide = {"k": ["x"] * (memo.MAX_PARTS + 1)}
    deep: object = "x"
    for _ in range(memo.MAX_DEPTH + 2):
        deep = [deep]
    assert memo.valid({"k": [["x"]]}, typing_any(), tree)
    assert not memo.valid(wide, typing_any(), tree)
    assert not memo.valid(deep, typing_any(), tree)


def typing_any():
    from typing import Any

    return Any


# --- the files' digests by their status ------------------------------------------------------


@pytest.fixture
def recorded(warm, tmp_path, monkeypatch) -> Path:
    """The warm tree built once more with its files' digests recorded: its files are only
    seconds old, which the racy rule would otherwise never trust."""
    monkeypatch.setattr(memo, "RACY_NS", 0)
    shutil.rmtree(warm / cache.FOLDER / "builds")
    pipeline.build(warm, tmp_path / "public")
    record = memo.BuildRecord.open(warm, tmp_path / "public", "False False")
    assert record.inputs() is not None and record.digests.read == 0  # all from the record
    return warm


def test_an_edit_that_keeps_size_and_mtime_is_seen(recorded, tmp_path):
    item = recorded / "newsletters/2022/2022-03/webbinarium.md"
    data, before = item.read_bytes(), item.stat()
    edited = data.replace(b"Webbinarium", b"Webbinariun", 1)
    assert edited != data and len(edited) == len(data)
    time.sleep(0.01)
    item.write_bytes(edited)
    os.utime(item, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = item.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    timings, _ = build(recorded, tmp_path / "public")
    assert "load" in timings.seconds
    assert b"Webbinariun" in (tmp_path / "public/2022/2022-03/index.html").read_bytes()
    same_as_clean(recorded, tmp_path)


def test_a_file_replaced_by_another_of_the_same_status_is_seen(recorded, tmp_path):
    """Editors save by renaming a new file over the old: another inode, the same times."""
    item = recorded / "newsletters/2022/2022-03/webbinarium.md"
    data, before = item.read_bytes(), item.stat()
    new = item.with_name(".ny")
    new.write_bytes(data.replace(b"Webbinarium", b"Webbinariun", 1))
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(new, item)
    build(recorded, tmp_path / "public")
    assert b"Webbinariun" in (tmp_path / "public/2022/2022-03/index.html").read_bytes()
    same_as_clean(recorded, tmp_path)


def test_a_touched_file_changes_nothing(recorded, tmp_path):
    out = tmp_path / "public"
    before = inodes(out)
    item = recorded / "newsletters/2022/2022-03/webbinarium.md"
    os.utime(item)  # new times, the same bytes
    timings, _ = build(recorded, out)
    assert "load" not in timings.seconds  # the same digest: nothing to do
    assert inodes(out) == before
    same_as_clean(recorded, tmp_path)


def test_a_file_changed_just_now_is_not_trusted_by_its_status(tmp_path):
    path = tmp_path / "fil.md"
    path.write_bytes(b"ett")
    digests = memo.Digests(None)
    digests.file(os.fsencode(path), os.lstat(path))
    assert os.fsencode(path) not in digests.seen  # within the racy window: read again
    old = time.time() - 10
    os.utime(path, (old, old))  # mtime back, but its ctime stays now
    digests.file(os.fsencode(path), os.lstat(path))
    assert os.fsencode(path) not in digests.seen


def test_a_damaged_or_forged_record_of_digests_is_not_trusted(recorded, tmp_path):
    files = recorded / cache.FOLDER / "files"
    files.write_bytes(files.read_bytes()[:-1])
    shutil.rmtree(recorded / cache.FOLDER / "builds")
    timings, _ = build(recorded, tmp_path / "public")
    same_as_clean(recorded, tmp_path)
    # Whole, but with a wrong digest for a file whose status is as recorded.
    fields = cache.unpack(files.read_bytes(), "files", 1)
    assert fields is not None
    known = memo.loads(fields[0])
    item = os.fsencode(recorded / "newsletters/2022/2022-03/webbinarium.md")
    known[item] = (known[item][0], b"\0" * 32)
    files.write_bytes(cache.pack("files", [memo.dumps(known)]))
    timings, _ = build(recorded, tmp_path / "public")
    assert "load" in timings.seconds  # a digest it has never recorded: built again
    same_as_clean(recorded, tmp_path)


def test_a_time_zone_is_read_by_its_name_only(tmp_path, monkeypatch):
    import datetime as dt
    import zoneinfo

    monkeypatch.chdir(tmp_path)
    start = dt.datetime(2022, 3, 14, 10, tzinfo=memo.STOCKHOLM)
    assert memo.loads(memo.dumps(start)) == start
    assert memo.loads(memo.dumps(start)).tzinfo is memo.STOCKHOLM
    other = dt.datetime(2022, 3, 14, 10, tzinfo=zoneinfo.ZoneInfo("Europe/London"))
    with pytest.raises(ValueError):  # only the tool's own zone
        memo.loads(memo.dumps(other))
    with pytest.raises(ValueError):  # the zone's own pickling calls a function by name
        memo.loads(pickle.dumps(start))


def test_the_old_output_is_gone_and_the_build_recorded_when_a_build_returns(warm, tmp_path):
    out = tmp_path / "public"
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8") + "\nEn mening till.\n", "utf-8")
    build(warm, out)  # the old output is removed while the build is recorded
    assert [p.name for p in out.parent.glob(".public*")] == []
    timings, _ = build(warm, out)
    assert "load" not in timings.seconds
    same_as_clean(warm, tmp_path)


def test_a_build_with_nothing_to_do_reads_its_content_only_when_asked(warm, tmp_path):
    out = tmp_path / "public"
    _, clean = build(warm, tmp_path / "clean")
    timings, checked = build(warm, out)
    assert "load" not in timings.seconds
    line = pipeline.closing_line(checked, 1, out, 0.5)
    assert "content" not in vars(checked)  # the closing line took the recorded counts
    assert line == pipeline.closing_line(clean, 1, out, 0.5)
    assert checked.content == clean.content
    # A whole record of this version whose content is not one: the tree is checked again.
    record = memo.BuildRecord.open(warm, out, "False False")
    key = record.path.read_bytes().partition(b"\n")[0].split(b" ")[3].decode()
    fields = cache.unpack(record.path.read_bytes(), key, 4)
    assert fields is not None
    fields[3] = memo.dumps(("inte", "innehåll"))
    record.path.write_bytes(cache.pack(key, fields))
    timings, checked = build(warm, out)
    assert "load" not in timings.seconds
    assert checked.content == clean.content


def forge_sources(root: Path, out: Path, sources: list[str]) -> None:
    """Rewrite the build record of root into out (whole, its payload's digest right) so
    that it names these files as copied from outside the inputs."""
    (path,) = (root / cache.FOLDER / "builds").iterdir()
    data = path.read_bytes()
    key = data.partition(b"\n")[0].split(b" ")[3].decode("ascii")
    fields = cache.unpack(data, key, 4)
    assert fields is not None
    path.write_bytes(cache.pack(key, [memo.dumps(sources), *fields[1:]]))


@pytest.mark.parametrize("forged", ["outside", "null", "loop", "up", "package-up"])
def test_a_forged_record_cannot_make_a_build_read_a_file_outside_the_root(warm, tmp_path, forged):
    """A record's copied files are hashed to check it: one that names a file outside the
    root (here a sparse file of a terabyte, hours of reading) is not trusted, unread; a
    name with a null character or of a link to itself is not trusted either (no
    traceback)."""
    huge = tmp_path / "enorm.bin"
    with huge.open("wb") as f:
        f.truncate(1 << 40)
    out = tmp_path / "public"
    (warm / "slinga.png").symlink_to("slinga.png")  # a link to itself, beside the inputs
    names = {
        "outside": str(huge),
        "null": f"{warm}/a\0b.png",
        "loop": f"{warm}/slinga.png",
        "up": f"{warm}/../enorm.bin",
        "package-up": f"{memo.PACKAGE}/{os.path.relpath(huge, memo.PACKAGE)}",
    }
    forge_sources(warm, out, [names[forged]])
    record = memo.BuildRecord.open(warm, out, "False False")
    started = time.monotonic()
    assert record.unchanged(record.inputs()) is None
    assert time.monotonic() - started < 5
    timings, _ = build(warm, out)  # built again, and recorded as it is
    assert "load" in timings.seconds
    same_as_clean(warm, tmp_path)


@pytest.mark.parametrize("kept", ["files", "builds", "checked", "issues", "search"])
def test_a_kept_file_that_is_a_pipe_is_not_waited_for(warm, tmp_path, kept):
    """A named pipe in place of a kept file (the digests, the build record, a memo entry, a
    rendered issue, a search bundle's manifest) is no entry: the build never waits on it."""
    import subprocess
    import sys

    from .conftest import REPO

    folder = warm / cache.FOLDER
    if kept == "files":
        victim = folder / "files"
    elif kept == "search":
        victim = next((folder / "search").iterdir()) / "manifest"
    else:
        victim = next((folder / kept).iterdir())
    victim.unlink(missing_ok=True)
    os.mkfifo(victim)
    if kept != "builds":  # past the record: the memo, the cache and the search are read
        shutil.rmtree(folder / "builds")
    command = [sys.executable, str(REPO / "build.py"), "build", "--root", str(warm)]
    try:
        result = subprocess.run(
            [*command, "--out", str(tmp_path / "public")],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the build waited for a named pipe in the cache")
    assert result.returncode == 0, result.stderr
    same_as_clean(warm, tmp_path)
