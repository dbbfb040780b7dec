"""The process-wide request budget: a sliding-window limiter that also listens to the server."""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# The API counts a request when it arrives; latency jitter can shift our sends into a later window.
WINDOW_MARGIN_SECONDS = 1.0
# When the server counts requests we did not send and less than this share of its quota is left, requests are
# spread over the time to the reset.
LOW_WATER_SHARE = 0.1
LOW_WATER_MIN = 5

_ITEM = re.compile(r'(?:"[^"]*"|[A-Za-z*][\w.*-]*)((?:\s*;\s*[A-Za-z*][\w.*-]*(?:=[^;,]*)?)*)')


@dataclass(frozen=True)
class RatelimitHeader:
    """One `Ratelimit: "name";r=<remaining>;t=<seconds to reset>` reading (IETF draft syntax)."""

    remaining: int
    reset_seconds: float


def parse_ratelimit(value: str | None) -> RatelimitHeader | None:
    """Return the most restrictive r/t item of a Ratelimit header, or None if it has none."""
    if not value:
        return None
    readings = []
    for item in _ITEM.finditer(value):
        params: dict[str, str] = {}
        for part in item.group(1).split(";"):
            name, _, param = part.strip().partition("=")
            params[name] = param
        try:
            readings.append(RatelimitHeader(int(params["r"]), float(params.get("t") or 0)))
        except (KeyError, ValueError):
            continue
    return min(readings, key=lambda r: r.remaining, default=None)


class RequestBudget:
    """Never more than `limit` request sends in any `window` seconds, nor `burst[0]` in any `burst[1]`
    seconds, across every client of a process."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.time,
        burst: tuple[int, float] | None = None,
    ) -> None:
        self.limit = limit
        self.window = window + WINDOW_MARGIN_SECONDS
        self.burst = (burst[0], burst[1] + WINDOW_MARGIN_SECONDS) if burst is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._sends: deque[float] = deque()
        self._blocked_until = 0.0
        self._spacing = 0.0
        self._seeded = False

    def reserve(self, max_wait: float = math.inf) -> float:
        """Return the wait in seconds for the next send slot; reserve the slot only if it is <= max_wait."""
        with self._lock:
            now = self._clock()
            while self._sends and self._sends[0] <= now - self.window:
                self._sends.popleft()
            at = max(now, self._blocked_until)
            if self._sends:
                at = max(at, self._sends[-1] + self._spacing)
                if len(self._sends) >= self.limit:
                    at = max(at, self._sends[-self.limit] + self.window)
                if self.burst is not None and len(self._sends) >= self.burst[0]:
                    at = max(at, self._sends[-self.burst[0]] + self.burst[1])
            if at - now <= max_wait:
                self._sends.append(at)
            return at - now

    def seed(self, sent_at: Iterable[float]) -> None:
        """Count the sends of earlier processes (read from raw_responses) into a new budget."""
        with self._lock:
            if self._seeded:  # later seeds would count this process's own sends a second time
                return
            self._seeded = True
            cutoff = self._clock() - self.window
            merged = sorted({*self._sends, *(t for t in sent_at if t > cutoff)})
            self._sends = deque(merged)

    def block_for(self, seconds: float) -> None:
        """Send nothing for `seconds` (the server said Retry-After)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def blocked_seconds(self) -> float:
        """Return how many seconds the server's block (Retry-After, or a spent Ratelimit) still lasts."""
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())

    def observe(self, header: RatelimitHeader) -> None:
        """Slow down when the server says its budget is nearly spent; stop when it is spent.

        Only when the server counts requests this window does not (another user of the token): alone, the
        window already keeps every send within the limit, and the server's remaining is never below ours.
        """
        with self._lock:
            now = self._clock()
            if header.remaining >= self.limit - self._count_after(now - self.window):
                self._spacing = 0.0
                return
            low_water = max(LOW_WATER_MIN, int(self.limit * LOW_WATER_SHARE))
            if header.remaining <= 0:
                self._blocked_until = max(self._blocked_until, now + header.reset_seconds)
                self._spacing = 0.0
            elif header.remaining <= low_water:
                self._spacing = header.reset_seconds / header.remaining
            else:
                self._spacing = 0.0

    def available(self, within: float = 0.0) -> int:
        """Return how many more sends the window allows by `within` seconds from now.

        Slots that free up meanwhile count: a send reserved now for one of them waits at most `within`.
        """
        with self._lock:
            return max(0, self.limit - self._count_after(self._clock() + within - self.window))

    def sent_in_window(self) -> int:
        """Return how many sends fall inside the current window (reserved future slots included)."""
        with self._lock:
            return self._count_after(self._clock() - self.window)

    def _count_after(self, cutoff: float) -> int:
        """Sends (reserved future slots included) later than cutoff; the caller holds the lock."""
        return len(self._sends) - bisect.bisect_right(self._sends, cutoff)


_BUDGETS: dict[tuple[str, int, float, tuple[int, float] | None], RequestBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(
    base_url: str, budget: str, limit: int, window: float, burst: tuple[int, float] | None = None
) -> RequestBudget:
    """Return the one budget of this process for a named budget at an API (tokens of one user share it)."""
    key = (hashlib.sha256(f"{base_url}\n{budget}".encode()).hexdigest(), limit, window, burst)
    with _BUDGETS_LOCK:
        return _BUDGETS.setdefault(key, RequestBudget(limit, window, burst=burst))
