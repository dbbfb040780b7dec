"""What the warehouse tests share: a fresh, migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from streamledger import warehouse


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a new database with the real migrations and definitions."""
    connection = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(connection)
    yield connection
    connection.close()
