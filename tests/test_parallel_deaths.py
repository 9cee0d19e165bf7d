"""A forked process that dies (killed, out of memory) neither hangs nor breaks a build."""

from __future__ import annotations

import os

import pytest

from nyhetsbrev.build import parallel


def test_a_forked_process_that_dies_leaves_the_work_to_this_one():
    parent = os.getpid()

    def square(n: int) -> int:
        if os.getpid() != parent:
            os._exit(9)  # as the kernel's out-of-memory killer would end it
        return n * n

    assert list(parallel.forked_map(square, 40, 2)) == [n * n for n in range(40)]
    assert list(parallel.forked_map(square, 40, 2, warm=True)) == [n * n for n in range(40)]
    assert list(parallel.forked_map(square, 40, 2, ahead=40)) == [n * n for n in range(40)]


def test_reading_with_a_dying_worker_gives_the_serial_tree(tmp_path):
    from benchmarks.synthetic import write_tree
    from nyhetsbrev.content.check import check
    from nyhetsbrev.content.load import load

    root = tmp_path / "innehall"
    write_tree(root, 2)
    folder = next((root / "newsletters").glob("*/*-05"))
    (folder / "text-02.md").write_text("---\ntitle: [\n---\n", "utf-8")
    parent = os.getpid()

    def dying(function, count):
        def run(n):
            if os.getpid() != parent and n % 3 == 1:
                os._exit(9)
            return function(n)

        return parallel.forked_map(run, count, 2)

    serial = load(root)
    forked = load(root, each=dying)
    assert forked == serial
    assert forked.problems == serial.problems
    assert check(forked, each=dying) == check(serial)


@pytest.mark.parametrize("workers", [2])
def test_an_error_in_a_forked_process_is_raised_here(workers):
    """An ordinary exception still comes back as itself (not swallowed by the fallback)."""

    def failing(n: int) -> int:
        if n == 30:
            raise KeyError("trettio")
        return n

    with pytest.raises(KeyError, match="trettio"):
        list(parallel.forked_map(failing, 40, workers))
