"""One whole poll (network included), run by poll_overhead in a clean process for its memory figure.

A module of its own, importing only what a poll imports, so that the figure counts the poll, not the
benchmark suite (matplotlib, the simulator).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from streamledger.settings import Settings


def one_poll(settings: Settings) -> dict[str, Any]:
    """One whole poll without Prefect (as tests.helpers.run_poll); return its ledger row as a mapping."""
    from tests.helpers import run_poll

    return asdict(run_poll(settings, check=False))
