"""The build cache: a rebuild renders only what changed, and its output is a clean build's."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from nyhetsbrev.build import cache, pipeline

from .conftest import FIXTURES, files


def entries(root: Path) -> set[str]:
    folder = root / cache.FOLDER / "issues"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.fixture(scope="module")
def built_once(tmp_path_factory) -> Path:
    """Build a copy of the fixture tree once (its cache then holds every issue), and keep a
    pristine copy of the tree with its cache and of the output."""
    folder = tmp_path_factory.mktemp("varm")
    shutil.copytree(
        FIXTURES / "basic", folder / "innehall", ignore=shutil.ignore_patterns(".nyhetsbrev")
    )
    pipeline.build(folder / "innehall", folder / "public")
    assert len(entries(folder / "innehall")) == 3  # the fixture's three issues
    shutil.copytree(folder / "innehall", folder / "orord", symlinks=True)
    return folder


@pytest.fixture
def warm(built_once: Path, tmp_path: Path) -> Path:
    """Return the fixture tree built once, so that its cache holds every issue, with its
    output in tmp_path/public. The tree is put back in the same place for each test, as
    cache keys name the assets' paths."""
    tree = built_once / "innehall"
    shutil.rmtree(tree)
    shutil.copytree(built_once / "orord", tree, symlinks=True)
    shutil.copytree(built_once / "public", tmp_path / "public", symlinks=True)
    return tree


def forget_builds(root: Path) -> None:
    """Remove the record of the last build: the next one runs even if nothing changed."""
    shutil.rmtree(root / cache.FOLDER / "builds")


def rebuild(root: Path, tmp_path: Path) -> tuple[set[str], set[str]]:
    """Build root incrementally and from scratch; assert the same bytes.

    Returns the cache entries added by the incremental build, and those it reused.
    """
    before = entries(root)
    pipeline.build(root, tmp_path / "public")
    after = entries(root)
    pipeline.build(root, tmp_path / "clean", use_cache=False)
    assert files(tmp_path / "public") == files(tmp_path / "clean")
    assert not (tmp_path / "public" / ".nyhetsbrev").exists()  # the cache is never published
    return after - before, after & before


def test_nothing_changed_renders_nothing(warm, tmp_path):
    added, kept = rebuild(warm, tmp_path)
    assert added == set() and len(kept) == 3


def test_an_item_edit_renders_its_issue_only(warm, tmp_path):
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8").replace("\n---\n", "\n---\nEn ny mening.\n\n", 1))
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 1 and len(kept) == 2
    assert "En ny mening." in (tmp_path / "public/2022/2022-03/email.txt").read_text("utf-8")


def test_an_item_moved_to_another_issue(warm, tmp_path):
    old = warm / "newsletters/2022/2022-03/webbinarium.md"
    new = warm / "newsletters/2022/2022-10/webbinarium.md"
    old.rename(new)
    issue = warm / "newsletters/2022/2022-03/issue.md"
    issue.write_text(issue.read_text("utf-8").replace("  - webbinarium\n", ""), "utf-8")
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 2 and len(kept) == 1  # the issue it left and the one it joined
    assert "webbinarium" in (tmp_path / "public/2022/2022-10/index.html").read_text("utf-8")


def test_a_campaign_colour_change_renders_the_issues_that_show_it(warm, tmp_path):
    campaign = warm / "campaigns/svartsjuka.md"
    campaign.write_text(campaign.read_text("utf-8").replace("#8a1538", "#6b0f2b"))
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 2 and len(kept) == 1  # 2021-11 shows no campaign
    assert "#6b0f2b" in (tmp_path / "public/2022/2022-03/email.html").read_text("utf-8")


def test_a_template_override_renders_everything(warm, tmp_path):
    default = Path(pipeline.__file__).parents[1] / "templates/email/issue.txt"
    override = warm / "templates/email/issue.txt"
    override.parent.mkdir(parents=True)
    override.write_text(default.read_text("utf-8") + "\nEn egen rad i mallen.\n", "utf-8")
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 3 and not kept
    assert "En egen rad i mallen." in (tmp_path / "public/2021/2021-11/email.txt").read_text()


def test_a_config_change_renders_everything(warm, tmp_path):
    config = warm / "newsletter.toml"
    text = config.read_text("utf-8")
    assert 'title = "' in text
    config.write_text(text.replace('title = "', 'title = "Nya ', 1), "utf-8")
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 3 and not kept


def test_a_corrupt_entry_is_rendered_again(warm, tmp_path):
    folder = warm / cache.FOLDER / "issues"
    first, second, third = sorted(folder.iterdir())
    data = first.read_bytes()
    first.write_bytes(data[:-40] + b"X" + data[-39:])  # one byte of the payload
    second.write_bytes(second.read_bytes()[:100])  # cut short
    third.write_bytes(b"")
    forget_builds(warm)
    added, kept = rebuild(warm, tmp_path)
    assert len(kept) == 3 and not added  # the same keys, written again whole
    assert all(cache.unpack(p.read_bytes(), p.name) for p in folder.iterdir())


def test_an_entry_from_another_version_is_not_trusted(warm, tmp_path):
    """An entry whose header names another version of the tool is ignored, even if whole."""
    folder = warm / cache.FOLDER / "issues"
    for path in folder.iterdir():
        fields = cache.unpack(path.read_bytes(), path.name)
        assert fields is not None
        fields[2] = b"Ett gammalt brev.\n"  # what an older version might have written
        payload = b"".join(b"%0*d" % (cache.LENGTH, len(f)) + f for f in fields)
        header = b"%s 1 %s %s\n" % (cache.MAGIC, b"0" * 64, path.name.encode())
        digest = hashlib.sha256(payload).hexdigest().encode()
        path.write_bytes(header + digest + b"\n" + payload)
    forget_builds(warm)
    rebuild(warm, tmp_path)
    assert "Ett gammalt brev." not in (tmp_path / "public/2021/2021-11/email.txt").read_text()


def test_a_missing_cache_is_rebuilt(warm, tmp_path):
    shutil.rmtree(warm / ".nyhetsbrev")
    added, kept = rebuild(warm, tmp_path)
    assert len(added) == 3 and not kept


def test_entries_no_build_uses_are_removed(warm, tmp_path):
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8") + "\nÄnnu en mening.\n", "utf-8")
    pipeline.build(warm, tmp_path / "public")
    assert len(entries(warm)) == 3


def search(root: Path) -> dict[str, int]:
    """Return the kept search bundles (one a year), each with its folder's inode."""
    folder = root / cache.FOLDER / "search"
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def test_the_search_index_is_reused_only_for_the_same_pages(warm, tmp_path):
    first = search(warm)
    assert len(first) == 2  # the fixture's two years
    forget_builds(warm)
    rebuild(warm, tmp_path)
    assert search(warm) == first  # nothing changed: Pagefind did not run again
    item = warm / "newsletters/2022/2022-03/webbinarium.md"
    item.write_text(item.read_text("utf-8") + "\nSökbar mening om fjällräv.\n", "utf-8")
    rebuild(warm, tmp_path)
    now = search(warm)
    # 2022's bundle is new; 2021's pages are the same, so its bundle was taken, not made again.
    assert len(now) == 2 and len(now.items() & first.items()) == 1


def test_a_corrupt_kept_search_index_is_not_used(warm, tmp_path):
    kept = warm / cache.FOLDER / "search" / min(search(warm)) / "files"
    victim = next(p for p in sorted(kept.rglob("*")) if p.is_file() and p.suffix != ".js")
    victim.write_bytes(victim.read_bytes() + b"trasig")
    forget_builds(warm)
    rebuild(warm, tmp_path)  # the same bytes as a clean build: Pagefind ran again


def test_a_kept_search_file_that_links_outside_is_not_published(warm, tmp_path):
    """A kept bundle's file that is a symbolic link (here to a file outside the root, its
    digest written into the manifest) is not copied into the output: Pagefind runs again."""
    secret = tmp_path / "hemlig.txt"
    secret.write_bytes(b"HEMLIGT utanfor roten")
    bundle = warm / cache.FOLDER / "search" / min(search(warm))
    victim = next(p for p in sorted((bundle / "files").rglob("*")) if p.name.endswith("_fragment"))
    rel = victim.relative_to(bundle / "files").as_posix()
    victim.unlink()
    victim.symlink_to(secret)
    manifest = bundle / "manifest"
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    lines = [
        f"{digest}  {rel}" if line.endswith(f"  {rel}") else line
        for line in manifest.read_text("utf-8").splitlines()
    ]
    manifest.write_text("\n".join(lines) + "\n", "utf-8")
    forget_builds(warm)
    rebuild(warm, tmp_path)  # the same bytes as a clean build
    published = [p for p in (tmp_path / "public").rglob("*") if p.is_file()]
    assert not any(b"HEMLIGT" in p.read_bytes() for p in published)


def test_pagefind_runs_at_most_once_per_core_at_a_time(tmp_path, monkeypatch):
    """Each year's Pagefind holds that year's pages in memory: ten years at once took the
    clean build of ten years from 140 to 233 MiB. No more run at once than there are cores."""
    import os

    from benchmarks.synthetic import write_tree
    from nyhetsbrev.build import search_index

    cores = len(os.sched_getaffinity(0))
    write_tree(tmp_path / "innehall", cores + 2)
    running: list[object] = []
    most = [0]
    start, finish = search_index._start, search_index._finish

    def counted_start(site, year):
        process = start(site, year)
        running.append(process)
        most[0] = max(most[0], len(running))
        return process

    def counted_finish(process):
        finish(process)
        running.remove(process)

    monkeypatch.setattr(search_index, "_start", counted_start)
    monkeypatch.setattr(search_index, "_finish", counted_finish)
    pipeline.build(tmp_path / "innehall", tmp_path / "ut", use_cache=False)
    assert most[0] == cores
    years = sorted(p.name for p in (tmp_path / "ut" / "pagefind").iterdir() if p.is_dir())
    assert len(years) == cores + 2  # every year indexed all the same
