"""Progress of long commands (export, rebuild) on stderr: one line per step, with a spinner on a terminal."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.status import Status


class Progress:
    """A context that prints each step with the seconds elapsed; `step` is the callback to pass down."""

    def __init__(self, what: str, console: Console | None = None) -> None:
        self.what = what
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.started = time.monotonic()
        self._status: Status | None = None

    def __enter__(self) -> Progress:
        self.started = time.monotonic()
        if self.console.is_terminal:
            self._status = self.console.status(f"{self.what}…")
            self._status.start()
        return self

    def step(self, message: str) -> None:
        """Print one step as `[  1.2 s] what: message` and show it as the current one."""
        elapsed = time.monotonic() - self.started
        self.console.print(f"[{elapsed:6.1f} s] {self.what}: {message}", markup=False)
        if self._status is not None:
            self._status.update(f"{self.what}: {message}…")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
