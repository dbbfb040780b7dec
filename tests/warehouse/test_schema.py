"""The schema: one tables-only baseline migration, the definitions applied on every open, and comments."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from streamledger import warehouse
from streamledger.cli import main
from streamledger.errors import WarehouseError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pre_release_schema.json"
# The pre-release migrations, 001 to 007, as a database made by them recorded them.
PRE_RELEASE = (
    "001_history.sql",
    "002_exact_history.sql",
    "003_account_level_issues.sql",
    "004_reporting.sql",
    "005_raw_archive.sql",
    "006_stale_usage_by_key.sql",
    "007_history_without_indexes.sql",
)


def describe_schema(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Every table's and view's columns, each table's DDL and each view's, the constraints, and the macros.

    tests/fixtures/pre_release_schema.json is this description of a database made by migrations 001-007 of
    commit 555e712 (then opened again read-only, as below: DuckDB prints some types differently once read
    back from the file).
    """
    columns = con.execute(
        "select c.table_name, t.table_type, c.ordinal_position, c.column_name, c.data_type, c.is_nullable,"
        " c.column_default from information_schema.columns as c"
        " inner join information_schema.tables as t using (table_schema, table_name) order by all"
    ).fetchall()
    tables = con.execute("select table_name, sql from duckdb_tables() order by all").fetchall()
    constraints = con.execute(
        "select table_name, constraint_type, constraint_column_names from duckdb_constraints() order by all"
    ).fetchall()
    macros = con.execute(
        "select function_name, function_type, parameters, macro_definition from duckdb_functions()"
        " where not internal order by all"
    ).fetchall()
    views = con.execute(
        "select view_name, sql from duckdb_views() where not internal order by all"
    ).fetchall()
    return {
        "columns": [list(row) for row in columns],
        "tables": dict(tables),
        "constraints": [list(row) for row in constraints],
        "views": dict(views),
        "macros": [list(row) for row in macros],
    }


# Views and macros changed on purpose after the pre-release migrations: name -> (kind, date), why above.
CHANGED_SINCE_PRE_RELEASE = {
    # Cloudflare's totals are integers (issue 12): the tolerance their rounding allows and a verdict, beside
    # the differences, which stay; every earlier column keeps its name and place.
    "reconciliation_daily": ("view", "2026-12-03"),
    # Where the API gave no status, a session's own end gives one: errored or ended (issue 14); same columns.
    "session_log": ("view", "2026-12-03"),
}
# Tables added by migrations after the baseline: name -> the migration that made it.
ADDED_SINCE_PRE_RELEASE = {
    # Each app's progress through its full livestream listing, a round spread over polls (issue 12).
    "listing_rounds": "002_listing_rounds.sql",
    # Cloudflare's overall totals of a window, the monthly export's cross-check (issue 12).
    "analytics_overall": "003_analytics_overall.sql",
    # The last point of each session's usage curve, so that a poll adds only its new steps (issue 15).
    "session_usage_state": "005_incremental_usage.sql",
}
# Tables and macros removed since: name -> why. session_usage_start became session_usage_state's first_hour;
# stale_session_usage (the whole curve in one macro, in doubles) became the load's incremental refresh over
# usage_point_at, usage_is_reading and usage_piece_us (issue 15).
REMOVED_SINCE_PRE_RELEASE = {
    "session_usage_start": "005_incremental_usage.sql",
    "stale_session_usage": "005_incremental_usage.sql",
}
# Tables made again by a later migration, with other column types: session_usage in exact decimal seconds.
REPLACED_SINCE_PRE_RELEASE = {"session_usage": "005_incremental_usage.sql"}
# View columns that sum session_usage, exact decimals since 005 (doubles before); same names and places.
DECIMAL_SINCE_PRE_RELEASE = {
    (view, column)
    for view in ("usage_daily", "usage_monthly")
    for column in ("ingest_seconds", "viewer_seconds")
}
# Macros added to the definitions since: name -> why.
MACROS_ADDED_SINCE_PRE_RELEASE = {
    # The reconciliation's rule, shared by reconciliation_daily and the export's cross-check (issue 12).
    "reconciliation_tolerance": "2026-12-03",
    "reconciliation_difference": "2026-12-03",
    # The usage rule in three parts, shared by the incremental and the full refresh (issue 15).
    "usage_point_at": "2026-12-04",
    "usage_is_reading": "2026-12-04",
    "usage_piece_us": "2026-12-04",
}
# Columns added to baseline tables by later migrations: (table, column) -> the migration that added it.
COLUMNS_ADDED_SINCE_PRE_RELEASE = {
    ("poll_runs", "listing"): "002_listing_rounds.sql",
    ("poll_runs", "planned_list"): "002_listing_rounds.sql",
    ("poll_runs", "deferred_list"): "002_listing_rounds.sql",
    ("poll_runs", "budget"): "002_listing_rounds.sql",
    # Each poll's clock skew and whether it was flagged (issue 13).
    ("poll_runs", "clock_skew_seconds"): "004_clock_skew.sql",
    ("poll_runs", "clock_skewed"): "004_clock_skew.sql",
    # How the usage refresh computes a stale session, and its new snapshots; when a stop was first seen.
    ("usage_stale", "path"): "005_incremental_usage.sql",
    ("usage_stale", "batch_since"): "005_incremental_usage.sql",
    ("usage_stale", "batch_polls"): "005_incremental_usage.sql",
    ("sessions", "stop_seen_at"): "005_incremental_usage.sql",
}
# Every migration after the baseline, in order.
MIGRATIONS_SINCE_BASELINE = sorted(
    {*ADDED_SINCE_PRE_RELEASE.values(), *COLUMNS_ADDED_SINCE_PRE_RELEASE.values()}
)


def pre_release() -> dict[str, Any]:
    """The description of the schema the pre-release migrations 001-007 ended with."""
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    del document["made_by"]  # how the fixture was made
    return document


def described(path: Path) -> dict[str, Any]:
    con = warehouse.connect(path, read_only=True)
    try:
        return describe_schema(con)
    finally:
        con.close()


def without(description: dict[str, Any], *names: str) -> dict[str, Any]:
    """The description without these tables, views and macros."""
    return {
        "columns": [row for row in description["columns"] if row[0] not in names],
        "tables": {name: sql for name, sql in description["tables"].items() if name not in names},
        "constraints": [row for row in description["constraints"] if row[0] not in names],
        "views": {name: sql for name, sql in description["views"].items() if name not in names},
        "macros": [row for row in description["macros"] if row[0] not in names],
    }


def baseline_columns(description: dict[str, Any]) -> dict[str, Any]:
    """The description without the columns later migrations added to baseline tables, and the DDL of those
    tables as the baseline made it (test_migration_002_... holds what was added)."""
    added = {table for table, _ in COLUMNS_ADDED_SINCE_PRE_RELEASE}
    baseline = pre_release()["tables"]
    return description | {
        "columns": [
            row for row in description["columns"] if (row[0], row[3]) not in COLUMNS_ADDED_SINCE_PRE_RELEASE
        ],
        "tables": {
            name: baseline[name] if name in added else sql for name, sql in description["tables"].items()
        },
    }


def test_migration_002_adds_the_listing_columns_and_listing_rounds(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    con.close()
    after = described(path)
    added = [row for row in after["columns"] if row[0] == "poll_runs"][-6:]
    assert [(row[3], row[4], row[6]) for row in added] == [
        ("listing", "VARCHAR", None),
        ("planned_list", "INTEGER", "0"),
        ("deferred_list", "INTEGER", "0"),
        ("budget", "VARCHAR", None),
        ("clock_skew_seconds", "DOUBLE", None),
        ("clock_skewed", "BOOLEAN", None),
    ]
    assert {(row[0], row[3]) for row in added} == {
        key for key in COLUMNS_ADDED_SINCE_PRE_RELEASE if key[0] == "poll_runs"
    }
    assert columns_of(after, "listing_rounds") == [
        "poll_id",
        "app_id",
        "fetched_at",
        "round_started_at",
        "first_page",
        "last_page",
        "total_count",
        "complete",
        "filter_ignored",
    ]
    assert ["listing_rounds", "PRIMARY KEY", ["poll_id", "app_id"]] in after["constraints"]
    poll_runs = after["tables"]["poll_runs"]
    assert (
        "listing VARCHAR, planned_list INTEGER DEFAULT(0), deferred_list INTEGER DEFAULT(0), budget VARCHAR, "
        "clock_skew_seconds DOUBLE, clock_skewed BOOLEAN)" in (poll_runs)
    )


def test_migration_004_gives_the_polls_before_it_their_clock_skew_from_their_raw_responses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    # A database of 003: the columns of 004 not there yet, nor its record.
    con.execute("alter table poll_runs drop column clock_skewed")
    con.execute("alter table poll_runs drop column clock_skew_seconds")
    con.execute("delete from schema_migrations where version = 4")
    con.execute(
        "insert into poll_runs (poll_id, kind, started_at, finished_at, app_ids, livestreams, active_reads,"
        " sessions, requests, responses, retries, rate_limited, transport_errors, failed_calls, parse_issues,"
        " unknown_statuses, outcome, network_seconds, normalize_seconds, load_seconds, recovered)"
        " select poll_id, 'snapshot', now(), now(), [], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'ok', 0, 0, 0, false"
        " from (values ('p1'), ('p2')) as polls (poll_id)"
    )
    # p1: answers 10 s, 20 s and 600 s ahead (median 20 s) and one without a Date; p2: none dated.
    for seq, (poll, ahead) in enumerate([("p1", 10), ("p1", 20), ("p1", 600), ("p1", None), ("p2", None)]):
        con.execute(
            "insert into raw_responses (poll_id, seq, fetched_at, endpoint, request_path, attempt, outcome,"
            " server_date) values (?, ?, '2026-11-01 00:00:00+00', 'list_livestreams', '/x', 1, 'data',"
            " '2026-11-01 00:00:00+00'::timestamptz + to_seconds(?))",
            [poll, seq, ahead],
        )
    assert warehouse.migrate(con, path) == ["004_clock_skew.sql"]
    rows = con.execute(
        "select poll_id, clock_skew_seconds, clock_skewed from poll_runs order by 1"
    ).fetchall()
    con.close()
    assert rows == [("p1", 20.0, None), ("p2", None, None)]


def columns_of(description: dict[str, Any], name: str) -> list[str]:
    """The column names of one table or view, in order."""
    return [row[3] for row in description["columns"] if row[0] == name]


def test_the_baseline_makes_exactly_the_tables_the_pre_release_migrations_ended_with(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.run_file(con, "warehouse/bookkeeping.sql")
    warehouse.run_file(con, "migrations/001_baseline.sql")  # the baseline alone, without the definitions
    con.close()
    old = pre_release()
    tables_only = {
        "columns": [row for row in old["columns"] if row[1] == "BASE TABLE"],
        "tables": old["tables"],
        "constraints": old["constraints"],
        "views": {},
        "macros": [],
    }
    # Names, types, nullability, defaults and order of every column; each table's DDL, which shows the
    # primary keys (none on raw_responses and session_snapshots) and `using compression zstd` on body.
    assert without(described(path), "schema_definitions") == tables_only
    assert "body VARCHAR USING COMPRESSION ZSTD" in old["tables"]["raw_responses"]


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    con = warehouse.connect(tmp_path / "w.duckdb")
    names = sorted(path.name for path in warehouse.MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    assert names == ["001_baseline.sql", *MIGRATIONS_SINCE_BASELINE]
    assert names[-1] == "005_incremental_usage.sql"
    assert warehouse.migrate(con) == names
    assert warehouse.migrate(con) == []
    recorded = con.execute("select version, name from schema_migrations order by version").fetchall()
    assert recorded == [(int(name[:3]), name) for name in names]


def test_the_definitions_are_the_views_and_macros_the_pre_release_migrations_ended_with(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    assert warehouse.migrate(con, path) == ["001_baseline.sql", *MIGRATIONS_SINCE_BASELINE]
    con.close()
    # The views' and macros' definitions as DuckDB parsed them: the same statements, whatever the layout,
    # but for those changed on purpose since, which must differ, and the tables added since.
    everything = described(path)
    ours = without(
        everything,
        "schema_definitions",
        *ADDED_SINCE_PRE_RELEASE,
        *MACROS_ADDED_SINCE_PRE_RELEASE,
        *REPLACED_SINCE_PRE_RELEASE,
    )
    theirs = without(pre_release(), *REMOVED_SINCE_PRE_RELEASE, *REPLACED_SINCE_PRE_RELEASE)
    assert not set(REMOVED_SINCE_PRE_RELEASE) & {*everything["tables"], *(m[0] for m in everything["macros"])}
    ours = baseline_columns(ours)
    assert set(ADDED_SINCE_PRE_RELEASE) <= set(everything["tables"]) - set(theirs["tables"])
    for name, (kind, _) in CHANGED_SINCE_PRE_RELEASE.items():
        if kind == "macro":
            (mine,) = [row for row in ours["macros"] if row[0] == name]
            (old,) = [row for row in theirs["macros"] if row[0] == name]
        else:
            mine, old = ours["views"][name], theirs["views"][name]
            # A changed view keeps every column it had, in its place (new ones come after): readers' queries
            # and `select *` exports still read the same columns.
            before = columns_of(theirs, name)
            assert columns_of(ours, name)[: len(before)] == before
        assert mine != old, f"{name} is listed as changed but is not"
    summed = [row for row in ours["columns"] if (row[0], row[3]) in DECIMAL_SINCE_PRE_RELEASE]
    assert [row[4] for row in summed] == ["DECIMAL(38,6)"] * len(DECIMAL_SINCE_PRE_RELEASE)
    ours["columns"] = [
        [*row[:4], "DOUBLE", *row[5:]] if (row[0], row[3]) in DECIMAL_SINCE_PRE_RELEASE else row
        for row in ours["columns"]
    ]
    assert without(ours, *CHANGED_SINCE_PRE_RELEASE) == without(theirs, *CHANGED_SINCE_PRE_RELEASE)


def test_the_baseline_holds_tables_only_and_every_definition_is_one_create_or_replace() -> None:
    baseline = (warehouse.MIGRATIONS_DIR / "001_baseline.sql").read_text()
    assert re.findall(r"^create (\w+)", baseline, re.MULTILINE) == ["table"] * 12
    files = sorted(warehouse.DEFINITIONS_DIR.glob("*.sql"))
    assert [file.name[:3] for file in files] == sorted(file.name[:3] for file in files)
    created: list[str] = []
    for file in files:
        text = file.read_text()
        creates = re.findall(r"^create or replace (macro|view) (\w+)", text, re.MULTILINE)
        assert re.findall(r"^create\b", text, re.MULTILINE) == ["create"] * len(creates), file.name
        if file.name == "00_table_comments.sql":
            assert creates == []
            continue
        ((_kind, name),) = creates  # one object per file
        assert file.stem[3:] == name, file.name  # named after it
        assert text.startswith("-- "), file.name  # its prose first
        assert re.search(rf"^comment on (macro( table)?|view) {name} is", text, re.MULTILINE), file.name
        created.append(name)
    assert len(created) == len(set(created))


def test_every_table_view_column_and_macro_has_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    # What docs/tables.md is made from: a table or column without a comment would be a hole in it.
    catalog = warehouse.query(con, "warehouse/catalog.sql").rows(named=True)
    macros = warehouse.query(con, "warehouse/catalog_macros.sql").rows(named=True)
    counts = con.execute(
        "select (select count(*) from duckdb_tables()),"
        " (select count(*) from duckdb_views() where not internal),"
        " (select count(*) from information_schema.columns where table_schema = 'main')"
    ).fetchall()
    con.close()
    missing = sorted(
        {f"{row['kind']} {row['name']}" for row in catalog if not (row["comment"] or "").strip()}
        | {
            f"column {row['name']}.{row['column_name']}"
            for row in catalog
            if not (row["column_comment"] or "").strip()
        }
        | {f"macro {row['name']}" for row in macros if not (row["comment"] or "").strip()}
    )
    assert missing == []
    relations = {(row["kind"], row["name"]) for row in catalog}
    assert counts == [(16, 5, len(catalog))]  # the catalog holds every column of every table and view
    assert sum(kind == "view" for kind, _ in relations) == 5
    assert len(macros) == 12


def test_definitions_are_applied_again_only_when_they_differ_from_the_recorded_ones(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    assert warehouse.apply_definitions(con, path) is False
    con.execute("create or replace view usage_daily as select 1 as changed")  # by hand, outside the files
    con.execute("update schema_definitions set checksum = 'other'")
    assert warehouse.apply_definitions(con, path) is True
    assert con.execute("select count(*) from schema_definitions").fetchall() == [(1,)]
    assert (
        "changed"
        not in con.execute("select sql from duckdb_views() where view_name = 'usage_daily'").fetchall()[0][0]
    )
    assert warehouse.apply_definitions(con, path) is False
    con.close()


def test_a_failed_definition_changes_nothing_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    before = con.execute("select checksum from schema_definitions").fetchall()
    con.execute("update schema_definitions set checksum = 'other'")
    real_run_file = warehouse.run_file

    def failing(con: duckdb.DuckDBPyConnection, name: str, params: Any = None) -> None:
        real_run_file(con, name, params)
        if name == "definitions/21_usage_monthly.sql":
            con.execute("select no_such_column")

    monkeypatch.setattr(warehouse, "run_file", failing)
    with pytest.raises(WarehouseError, match=r"definition definitions/21_usage_monthly\.sql failed"):
        warehouse.apply_definitions(con, path)
    assert con.execute("select checksum from schema_definitions").fetchall() == [("other",)]
    assert before != [("other",)]
    con.close()


def test_the_usage_rule_is_written_once() -> None:
    rule = "greatest(least(observed_at, coalesce(stopped_time, observed_at)), started_time)"
    holders = [
        path.relative_to(warehouse.SQL_DIR).as_posix()
        for path in sorted(warehouse.SQL_DIR.rglob("*.sql"))
        if rule in path.read_text() or "macro usage_point_at" in path.read_text()
    ]
    assert holders == ["definitions/06_usage_point_at.sql"]


def pre_release_database(path: Path, recorded: tuple[str, ...]) -> None:
    """A database whose schema_migrations records these migrations (its tables do not matter here)."""
    con = duckdb.connect(str(path))
    con.execute(
        "create table schema_migrations (version integer primary key, name varchar not null,"
        " checksum varchar not null, applied_at timestamptz not null default now())"
    )
    for name in recorded:
        con.execute(
            "insert into schema_migrations (version, name, checksum) values (?, ?, 'x')",
            [int(name[:3]), name],
        )
    con.close()


def test_a_database_of_the_pre_release_migrations_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.duckdb"
    pre_release_database(path, PRE_RELEASE)
    con = warehouse.connect(path)
    with pytest.raises(WarehouseError) as refused:
        warehouse.migrate(con, path)
    con.close()
    assert str(refused.value) == (
        f"database {path} was made by migration 001_history.sql, which this version does not have (a "
        f"pre-release schema, which cannot be upgraded): delete {path} or re-create it (the next run then "
        "creates it anew)"
    )
    assert main(["rebuild", "--database", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"streamledger: error: {refused.value}\n"  # one line, no traceback


def test_a_database_whose_baseline_differs_from_this_versions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con, path)
    con.execute("update schema_migrations set checksum = 'other'")
    with pytest.raises(
        WarehouseError, match=r"was made by a different 001_baseline\.sql than this version's .*: delete "
    ):
        warehouse.migrate(con, path)
    con.close()
