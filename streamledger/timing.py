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
