"""Use both cores of a big build: issues are read, checked and rendered independently,
in forked processes.

Worker processes are forked, so they start with what was read and checked and the compiled
templates already in memory: the function they run is inherited, never pickled, and only an
issue's index goes out and its result comes back. Results are put back in the issues' order,
so the output is byte-identical to a serial run, and handed on one by one as they come.
Builds below PARALLEL_FROM issues, and platforms without fork, stay in one process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, TypeVar

from nyhetsbrev.content.models import Content
from nyhetsbrev.timing import Timings

if TYPE_CHECKING:  # `check` forks to read and check, and renders nothing
    import jinja2

    from nyhetsbrev.build.render import RenderedIssue

PARALLEL_FROM = 24  # issues; below this, starting processes costs more than it saves
MAX_WORKERS = 8
T = TypeVar("T")

_task: Callable[..., Any] | None = None  # set only inside a worker process


def workers_for(issues: int) -> int:
    """Return how many processes should render this many issues (1: render in this one)."""
    if issues < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS, issues // (PARALLEL_FROM // 2)))


def render_parallel(
    env: jinja2.Environment,
    content: Content,
    workers: int,
    timings: Timings | None = None,
    indices: Sequence[int] | None = None,
) -> Iterator[RenderedIssue]:
    """Yield the issues at indices (default: all) rendered by `workers` forked processes.

    The results come in the order of indices (the content's order, by default), each as
    soon as it and those before it are done.
    """
    from nyhetsbrev.build.render import render_issue

    chosen = range(len(content.issues)) if indices is None else indices

    def render(index: int) -> tuple[RenderedIssue, dict[str, float]]:
        recorder = Timings()
        result = render_issue(env, content, content.issues[chosen[index]], timings=recorder)
        # The issue stays behind: the parent has it, and pickling it is costly.
        return dataclasses.replace(result, issue=None), recorder.seconds  # type: ignore[arg-type]

    # The first issue is rendered before the fork: the forked processes start with the
    # templates compiled and the inliner and MJML libraries imported, not each on its own.
    results = forked_map(render, len(chosen), workers, warm=True)
    for n, (result, seconds) in zip(chosen, results, strict=True):
        if timings is not None:
            timings.merge(seconds)
        yield dataclasses.replace(result, issue=content.issues[n])


def each(function: Callable[[int], T], count: int) -> Iterator[T]:
    """Yield function(0), …, function(count - 1), in order: on several cores for many.

    load and check hand it the work of each issue folder (nyhetsbrev.content.load.Each).
    They keep every result, so this process computes ahead as far as it can instead of
    waiting for a forked one that the machine's other work holds up.
    """
    return forked_map(function, count, workers_for(count), ahead=count)


def forked_map(
    function: Callable[[int], T],
    count: int,
    workers: int,
    warm: bool = False,
    ahead: int | None = None,
) -> Iterator[T]:
    """Yield function(0), …, function(count - 1), in order, computed by `workers` processes.

    This process is one of them: it forks workers - 1 others, hands them the next index
    whenever they run short, and computes an index itself whenever the next result is not
    ready, keeping what it computed ahead until its turn. At most 2 × workers indices (or
    `ahead`) are out beyond the next one, so a few results at most wait in memory, and no
    process's copy of the content sits idle. The forked processes stop when the last result
    is taken, or when the caller stops taking. With warm, function(0) is computed here
    before the others are forked, so that they inherit what it loaded and need not load it
    each.
    """
    if workers <= 1 or count <= 1:
        yield from (function(n) for n in range(count))
        return
    window = 2 * workers if ahead is None else ahead  # beyond the next index, at most
    done: dict[int, T] = {}  # computed here before its turn
    claimed = 0  # indices below this are handed out or computed
    if warm:
        done[0] = function(0)
        claimed = 1
    pool = _pool(workers - 1, function)  # the processes are forked at the first submit
    futures: dict[int, Future[T]] = {}
    queued = 2 * (workers - 1)  # unfinished indices the forked processes hold: none idles
    given = 0  # indices yielded
    try:
        for n in range(count):
            given = n
            while True:
                limit = min(count, n + window)
                while claimed < limit and sum(not f.done() for f in futures.values()) < queued:
                    futures[claimed] = pool.submit(_call, claimed)
                    claimed += 1
                if n in done:
                    yield done.pop(n)
                    break
                future = futures.get(n)
                if future is not None and (future.done() or claimed >= limit):
                    del futures[n]
                    yield future.result()
                    break
                if future is None:  # only when nothing was handed out: compute it here
                    claimed = max(claimed, n + 1)
                    yield function(n)
                    break
                done[claimed] = function(claimed)  # the next result is not ready: help
                claimed += 1
    except BrokenProcessPool:
        # A forked process died (killed, out of memory): this one does the rest, as a
        # serial run would, instead of a traceback or a lost result.
        pool.shutdown(wait=True, cancel_futures=True)
        for n in range(given, count):
            yield done.pop(n) if n in done else function(n)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(workers: int, function: Callable[..., Any]) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start,
        initargs=(function, os.getpid()),
    )


def _start(function: Callable[..., Any], parent: int) -> None:
    global _task
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's to handle, once
    _task = function


def _call(*args: Any) -> Any:
    assert _task is not None, "runs only in a process started by _pool"
    return _task(*args)


def _die_with(parent: int) -> None:
    """Have Linux end this worker when the build dies, even by SIGKILL.

    Without it, workers of a killed build wait forever on their queues.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return  # not Linux: a killed build may leave idle workers behind
    pr_set_pdeathsig = 1
    prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the build died before the line above took effect
        os._exit(1)
