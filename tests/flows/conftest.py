"""The Prefect API server of the flow tests: started for this folder only, stopped when it is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="package")
def prefect_api() -> Iterator[None]:
    """One real Prefect API server (a test harness) for every flow-run test of this folder.

    Package-scoped, so it is gone before the other folders run: its websocket keepalive must not draw
    from `random` while Hypothesis is generating elsewhere.
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield
