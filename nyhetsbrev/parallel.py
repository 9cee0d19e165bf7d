"""Use both cores of a big build: issues render independently, and lint runs beside the pages.

Worker processes are forked, so they start with the checked content and the compiled
templates already in memory: the function they run is inherited, never pickled, and only an
issue's index goes out and its result comes back. Results are put back in the issues' order,
so the output is byte-identical to a serial run. Builds below PARALLEL_FROM issues, and
platforms without fork, stay in one process.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

import jinja2

from .models import Content
from .render import RenderedIssue, render_issue
from .timing import Timings

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
) -> list[RenderedIssue]:
    """Return the issues at indices (default: all) rendered by `workers` forked processes.

    The results come in the order of indices (the content's order, by default).
    """
    chosen = range(len(content.issues)) if indices is None else indices

    def render(index: int) -> tuple[RenderedIssue, dict[str, float]]:
        recorder = Timings()
        result = render_issue(env, content, content.issues[chosen[index]], timings=recorder)
        # The issue stays behind: the parent has it, and pickling it is costly.
        return dataclasses.replace(result, issue=None), recorder.seconds  # type: ignore[arg-type]

    results = forked_map(render, len(chosen), workers)
    rendered = []
    issues = [content.issues[n] for n in chosen]
    for issue, (result, seconds) in zip(issues, results, strict=True):
        rendered.append(dataclasses.replace(result, issue=issue))
        if timings is not None:
            timings.merge(seconds)
    return rendered


def forked_map(function: Callable[[int], T], count: int, workers: int) -> list[T]:
    """Return [function(0), …, function(count - 1)], computed by forked processes, in order."""
    chunk = max(1, count // (workers * 4))
    with _pool(workers, function) as pool:
        return list(pool.map(_call, range(count), chunksize=chunk))


def in_background(function: Callable[[], T]) -> tuple[ProcessPoolExecutor, Future[T]]:
    """Start function in a forked process; return the pool (shut it down) and its future."""
    pool = _pool(1, function)
    return pool, pool.submit(_call)


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
