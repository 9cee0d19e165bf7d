"""Both cores, same bytes: the forked paths (render, lint beside the pages) change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.synthetic import write_tree
from nyhetsbrev.build import pipeline
from nyhetsbrev.build.parallel import PARALLEL_FROM, workers_for
from nyhetsbrev.timing import Timings

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    """Return a synthetic tree of two years: enough issues for the parallel path."""
    root = tmp_path_factory.mktemp("stor") / "innehall"
    write_tree(root, 2)
    return root


def test_small_builds_stay_in_one_process():
    assert workers_for(PARALLEL_FROM - 1) == 1
    assert workers_for(3) == 1


def test_reading_and_checking_on_both_cores_equals_serial(big, tmp_path):
    import shutil

    from nyhetsbrev.build.parallel import each
    from nyhetsbrev.content import markup
    from nyhetsbrev.content.check import check
    from nyhetsbrev.content.load import load

    root = tmp_path / "kopia"
    shutil.copytree(big, root)
    folder = next((root / "newsletters").glob("*/*-03"))
    (folder / "issue.md").write_bytes(b"\xff")  # a problem load finds, that check looks at
    (folder / "text-02.md").write_text("---\ntitle: [\n---\n", "utf-8")
    (folder / "text-03.md").write_text("---\ntitle: Hej\nokänd: x\n---\nText\n", "utf-8")
    (folder / "a.md").write_text("utan front matter", "utf-8")  # read after issue.md
    for n, path in enumerate(sorted(root.glob("newsletters/*/*/text-*.md"))):
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\nText nummer {n}.\n")  # every body its own: parsed in one process
    assert workers_for(len(list((root / "newsletters").glob("*/*")))) > 1 or pytest.skip(
        "only one core here"
    )
    markup._OUTLINES.clear()
    serial = load(root)
    serial_checked = check(serial)
    kept = dict(markup._OUTLINES)
    markup._OUTLINES.clear()
    forked = load(root, each=each)
    assert forked == serial
    assert forked.problems == serial.problems  # the same order, too
    assert check(forked, each=each) == serial_checked
    assert markup._OUTLINES == kept  # lint finds the bodies parsed, as after a serial check


def test_parallel_rendering_equals_serial(big):
    content = pipeline.load_content(big).content
    assert workers_for(len(content.issues)) > 1 or pytest.skip("only one core here")
    serial = pipeline.render_all(content, workers=1)
    parallel = pipeline.render_all(content, workers=2)
    assert [r.issue.id for r in parallel] == [i.id for i in content.issues]
    assert parallel == serial


def test_lint_beside_the_pages_reports_what_check_reports(big, run, tmp_path):
    out = tmp_path / "public"
    built = run("build", "--root", big, "--out", out, "--strict")
    checked = run("check", "--root", big, "--strict")
    assert built.exit_code == checked.exit_code == 1
    assert "[size]" in built.stderr  # 15 long items a month pass the 60 kB budget
    assert built.stderr == checked.stderr
    assert not out.exists()


def test_timings_change_no_byte(tmp_path):
    def files(folder: Path) -> dict[str, bytes]:
        return {
            p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    timings = Timings()
    pipeline.build(FIXTURES / "basic", tmp_path / "a", timings=timings, use_cache=False)
    pipeline.build(FIXTURES / "basic", tmp_path / "b")
    assert {"load", "check", "mjml", "inlining", "text", "writing"} <= set(timings.seconds)
    assert files(tmp_path / "a") == files(tmp_path / "b")


def test_a_hostile_template_is_reported_from_a_worker_process(big, tmp_path):
    import shutil

    from nyhetsbrev.build.render import TemplateFailure

    root = tmp_path / "kopia"
    shutil.copytree(big, root)
    template = root / "templates/email/issue.txt"
    template.parent.mkdir(parents=True)
    template.write_text("Hej\n{{ cycler.__init__.__globals__.os.environ }}\n", "utf-8")
    content = pipeline.load_content(root).content
    with pytest.raises(TemplateFailure) as raised:
        pipeline.render_all(content, workers=2)
    assert str(raised.value.problem) == (
        "templates/email/issue.txt:2: mallen försöker nå något som mallar inte får använda, "
        "och stoppades"
    )


def test_rendered_issues_are_handed_on_one_by_one_not_held(big):
    import gc

    from nyhetsbrev.build.render import RenderedIssue

    content = pipeline.load_content(big).content
    most = 0
    for n, rendered in enumerate(pipeline.render_stream(content, workers=2)):
        assert rendered.issue is content.issues[n]
        del rendered
        gc.collect()
        most = max(most, sum(isinstance(o, RenderedIssue) for o in gc.get_objects()))
    assert n == len(content.issues) - 1
    assert most <= 6  # a few ahead at most (2 × workers), never the whole tree's 24


_WARMED: list[int] = []


def test_what_the_first_computation_loads_is_inherited_when_warm():
    import os
    import time

    from nyhetsbrev.build.parallel import forked_map

    _WARMED.clear()

    def work(n: int) -> tuple[int, int]:
        if n == 0:
            _WARMED.append(n)  # as a first render imports the inliner, compiles templates
        time.sleep(0.01)
        return os.getpid(), len(_WARMED)

    results = list(forked_map(work, 24, 2, warm=True))
    assert results[0] == (os.getpid(), 1)  # computed here, before the fork
    forked = [seen for pid, seen in results if pid != os.getpid()]
    assert forked, "no result came from the forked process"
    assert set(forked) == {1}  # which inherited what it loaded


def test_reading_and_checking_go_on_here_while_a_forked_process_is_held_up():
    import os
    import time

    from nyhetsbrev.build.parallel import forked_map

    here = os.getpid()

    def work(n: int) -> int:
        if os.getpid() != here:
            time.sleep(0.3)  # as when the machine's other work holds the process up
        return os.getpid()

    pids = list(forked_map(work, 24, 2, ahead=24))  # as parallel.each asks
    assert pids.count(here) >= 20  # the forked process holds two at a time, no more
