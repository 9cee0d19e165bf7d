"""Render issues on several cores: issues are independent, and CSS inlining dominates a build.

Worker processes are forked, so they start with the checked content and the compiled
templates already in memory; only the issue's index goes out and its outputs come back.
Results are put back in the issues' order, so the output is byte-identical to a serial run.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

import jinja2

from .models import Content
from .render import RenderedIssue, render_issue
from .timing import Timings

PARALLEL_FROM = 24  # issues; below this, starting processes costs more than it saves
MAX_WORKERS = 8

_worker: tuple[jinja2.Environment, Content] | None = None  # set only inside a worker process


def workers_for(issues: int) -> int:
    """Return how many processes should render this many issues (1: render in this one)."""
    if issues < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_WORKERS, issues // (PARALLEL_FROM // 2)))


def render_parallel(env: jinja2.Environment, content: Content, workers: int,
                    timings: Timings | None = None) -> list[RenderedIssue]:
    """Return every issue rendered by `workers` forked processes, in the content's order."""
    context = multiprocessing.get_context("fork")
    count = len(content.issues)
    chunk = max(1, count // (workers * 4))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                             initargs=(env, content, os.getpid())) as pool:
        results = list(pool.map(_render, range(count), chunksize=chunk))
    rendered = []
    for issue, (result, seconds) in zip(content.issues, results, strict=True):
        rendered.append(dataclasses.replace(result, issue=issue))
        if timings is not None:
            timings.merge(seconds)
    return rendered


def _start(env: jinja2.Environment, content: Content, parent: int) -> None:
    global _worker
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the build's to handle, once
    _worker = (env, content)


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


def _render(index: int) -> tuple[RenderedIssue, dict[str, float]]:
    assert _worker is not None, "runs only in a worker started by render_parallel"
    env, content = _worker
    timings = Timings()
    result = render_issue(env, content, content.issues[index], timings=timings)
    # The issue itself stays behind: the parent has it, and pickling it is costly.
    return dataclasses.replace(result, issue=None), timings.seconds
