"""Golden tests: the fixture tree builds to exactly the reviewed files in tests/expected/."""

from __future__ import annotations

import pytest

from .conftest import EXPECTED, FIXTURES, files
from .golden import CASES


@pytest.mark.parametrize("case", CASES)
def test_build_matches_golden_files(case, run, tmp_path, built_basic):
    out = tmp_path / "public"
    if case == "basic":
        out = built_basic  # the session's build of the same tree with the same command
    else:
        result = run("build", "--root", FIXTURES / case, "--out", out)
        assert result.exit_code == 0, result.output
    built, expected = files(out), files(EXPECTED / case)
    built = {name: data for name, data in built.items() if not name.startswith("pagefind/")}
    assert sorted(built) == sorted(expected), "run `make golden` and read the diff"
    different = [name for name in built if built[name] != expected[name]]
    assert different == [], "run `make golden` and read the diff"


def test_second_build_is_byte_identical(run, tmp_path, built_basic):
    second = tmp_path / "b"
    assert run("build", "--root", FIXTURES / "basic", "--out", second).exit_code == 0
    assert files(built_basic) == files(second)


def test_rebuild_keeps_mtime_of_unchanged_files(run, tmp_path):
    out = tmp_path / "public"
    assert run("build", "--root", FIXTURES / "basic", "--out", out).exit_code == 0
    page = out / "2022" / "2022-03" / "email.html"
    old = page.stat().st_mtime_ns - 10_000_000_000
    import os

    os.utime(page, ns=(old, old))
    assert run("build", "--root", FIXTURES / "basic", "--out", out).exit_code == 0
    assert page.stat().st_mtime_ns == old
