"""An optional stopwatch for the build's stages, for the benchmark; output never depends on it.

Stage functions take `timings: Timings | None`; with None nothing is measured.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext


class Timings:
    """Seconds spent per stage, summed over every call (and over worker processes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent inside the with-block to the stage's total."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Add seconds to a stage's total."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def merge(self, other: Mapping[str, float]) -> None:
        """Add another recorder's totals (e.g. from a worker process) to these."""
        for name, seconds in other.items():
            self.add(name, seconds)


def timed(timings: Timings | None, name: str) -> AbstractContextManager[None]:
    """Return a context that times the stage when timings is given, else does nothing."""
    return timings.stage(name) if timings is not None else nullcontext()
