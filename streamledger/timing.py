"""How long a step took, for the ledger row (transforms stay free of clocks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def timed(step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> tuple[R, float]:
    """Return what `step` returned and the seconds it took."""
    clock = time.perf_counter()
    result = step(*args, **kwargs)
    return result, time.perf_counter() - clock


class Laps:
    """Seconds of consecutive named steps (a step named twice adds up), for benchmarks of a stage's parts."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        """Charge the time since the previous lap (or since the start) to `step`."""
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._clock
        self._clock = now
