import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from streamledger import warehouse
from streamledger.errors import DatabaseBusy, WarehouseError
from tests.helpers import HISTORY_TABLES, held


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    names = sorted(path.name for path in warehouse.MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    assert names[:4] == [
        "001_history.sql",
        "002_exact_history.sql",
        "003_account_level_issues.sql",
        "004_reporting.sql",
    ]
    assert warehouse.migrate(con) == names
    assert warehouse.migrate(con) == []
    recorded = con.execute("select version, name from schema_migrations order by version").fetchall()
    assert recorded == [(int(name[:3]), name) for name in names]
    tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    assert set(HISTORY_TABLES) <= tables


def test_a_changed_applied_migration_is_refused(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    con.execute("update schema_migrations set checksum = 'other'")
    with pytest.raises(WarehouseError, match=r"001_history\.sql was changed after it was applied"):
        warehouse.migrate(con)


def test_every_connection_reads_instants_in_utc(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    assert con.execute("select current_setting('TimeZone')").fetchall() == [("UTC",)]
    frame = con.sql("select timestamptz '2026-11-27 12:00:00+02' as t").pl()
    assert frame.schema["t"] == pl.Datetime("us", "UTC")
    assert frame["t"].to_list() == [datetime(2026, 11, 27, 10, 0, tzinfo=UTC)]


def test_a_database_held_by_another_process_gives_a_clear_error_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with held(path, read_only=False, seconds=30) as holder:
        started = time.monotonic()
        told: list[str] = []
        with pytest.raises(
            DatabaseBusy,
            match=rf"database .*w.duckdb: still held by process {holder.pid} after waiting 0.5 s",
        ):
            warehouse.connect(path, wait_seconds=0.5, on_wait=told.append)
        assert told == [f"database {path} is held by process {holder.pid}; waiting up to 0.5 s for it"]
        assert 0.5 <= time.monotonic() - started < 5


def test_sql_files_split_into_statements_without_comment_only_parts() -> None:
    parts = warehouse.statements("-- head\nselect 1;\n-- only a comment;\nselect 2;\n")
    assert parts == ["-- head\nselect 1", "select 2"]


def test_migration_007_keeps_every_row_and_drops_the_history_indexes(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    older = sorted(warehouse.MIGRATIONS_DIR.glob("00[1-6]_*.sql"))
    con.execute(
        "create table schema_migrations (version integer primary key, name varchar not null,"
        " checksum varchar not null, applied_at timestamptz not null default now())"
    )
    for file in older:  # a database as it was before 007
        for statement in warehouse.statements(file.read_text()):
            con.execute(statement)
        checksum = hashlib.sha256(file.read_text().encode()).hexdigest()
        con.execute(
            "insert into schema_migrations (version, name, checksum) values (?, ?, ?)",
            [int(file.name[:3]), file.name, checksum],
        )
    con.execute(
        "insert into raw_responses (poll_id, seq, fetched_at, endpoint, request_path, attempt, outcome, body)"
        " select 'p' || (i // 10), i % 10, now(), 'active_session', '/x', 1, 'data', '{}' from range(50) t(i)"
    )
    con.execute(
        "insert into session_snapshots (poll_id, fetched_at, session_id, livestream_id, app_id, endpoint)"
        " select 'p' || (i // 10), now(), 's' || i, 'l', 'a', 'active_session' from range(50) t(i)"
    )
    before = {
        t: con.execute(f"select * from {t} order by all").fetchall()
        for t in ("raw_responses", "session_snapshots")
    }
    assert warehouse.migrate(con, path)[0] == "007_history_without_indexes.sql"
    for table, rows in before.items():
        assert con.execute(f"select * from {table} order by all").fetchall() == rows
        keys = con.execute(
            "select count(*) from information_schema.table_constraints"
            " where table_name = ? and constraint_type = 'PRIMARY KEY'",
            [table],
        ).fetchall()
        assert keys == [(0,)]


def test_bodies_are_stored_with_zstd_and_read_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    bodies = [f'{{"data":{{"n":{i},"text":"{"x" * (i % 300)}\u00e9"}}}}' for i in range(3000)]
    con.execute(
        "insert into raw_responses (poll_id, seq, fetched_at, endpoint, request_path, attempt, outcome, body)"
        " select 'p', i::integer, now(), 'active_session', '/x', 1, 'data', b"
        " from unnest(?) with ordinality as t(b, i)",
        [bodies],
    )
    con.execute("checkpoint")
    methods = con.execute(
        "select distinct compression from pragma_storage_info('raw_responses') where column_name = 'body'"
    ).fetchall()
    assert ("ZSTD",) in methods
    assert [row[0] for row in con.execute("select body from raw_responses order by seq").fetchall()] == bodies
