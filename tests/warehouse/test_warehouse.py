import re
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from streamledger import warehouse
from streamledger.errors import DatabaseBusy
from tests.helpers import held


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


def test_parameters_are_session_variables_set_only_for_the_files_that_read_them(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    frame = warehouse.query(con, "queries/recent_requests.sql", {"window_seconds": 300.0, "poll_id": "p"})
    assert frame.columns == ["sent_at"]
    variables = dict(con.execute("select name, value from duckdb_variables()").fetchall())
    assert variables["window_seconds"] == "300.0"
    assert "poll_id" not in variables  # the file does not read it, so it is not set
    con.close()


def test_a_variable_name_that_is_not_an_identifier_is_refused_before_anything_runs(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    with pytest.raises(ValueError, match="session variable name"):
        warehouse.bind_variables(con, {"ok": 1, "x = 1; drop table t; set variable y": 2})
    assert con.execute("select count(*) from duckdb_variables()").fetchall() == [(0,)]
    warehouse.bind_variables(con, {"hostile": "'; drop table sessions; --"})
    assert con.execute("select getvariable('hostile')").fetchall() == [("'; drop table sessions; --",)]
    con.close()


def test_a_poll_id_in_a_session_variable_lets_the_load_skip_other_polls_row_groups(tmp_path: Path) -> None:
    """DuckDB folds getvariable() to a constant when it binds, so zone maps prune as for a bound $param."""
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)
    for table, columns, values in (
        (
            "raw_responses",
            "seq, endpoint, request_path, attempt, outcome",
            "i % 100, 'active_session', '/x', 1, 'data'",
        ),
        (
            "session_snapshots",
            "session_id, livestream_id, app_id, endpoint",
            "'s' || (i % 100), 'l', 'a', 'active_session'",
        ),
    ):
        con.execute(
            f"insert into {table} (poll_id, fetched_at, {columns})"
            f" select 'p' || lpad((i // 100)::varchar, 5, '0'),"
            f" timestamptz '2026-11-01' + to_seconds(i // 100), {values} from range(300000) as t(i)"
        )
    con.execute("checkpoint")
    warehouse.bind_variables(con, {"poll_id": "p01000"})
    statements, reads = warehouse._prepared("load/01_clear_poll.sql")
    assert "poll_id" in reads
    scanned = []
    con.execute("begin transaction")
    for statement in statements:
        plan = con.sql(f"explain analyze {statement}").fetchall()[0][1]
        if "raw_responses" in statement or "session_snapshots" in statement:
            scanned.append(re.findall(r"Row Groups Scanned: (\d+) / (\d+)", plan))
    con.execute("rollback")
    con.close()
    # The two deletes and the snapshot read, each one row group of 30 (a writer's hold 10,240 rows each).
    assert scanned == [[("1", "30")]] * 3
