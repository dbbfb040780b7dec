"""A peer: dlt's rest_api source into DuckDB against streamledger, on the same fleet, alternating.

For N = 100 and 1,000 live livestreams (--quick: 100), the fast fake of the API (benchmarks/fake_api.py: the
simulator's answers of N livestreams, all live for hours, budget lifted, kept after their first request and
served from memory, so that neither tool waits on the simulator's own handlers) runs in its own process. The
dlt side is benchmarks/peer_dlt_pipeline.py run by
the python of data/bench/dlt-env, an environment of this suite alone (dlt is no project dependency), made on
demand with the project's uv (see ensure_dlt_env). Each tool polls once to reach its steady state (dlt: the
schema and tables exist; streamledger: the first poll's sweep of every livestream is done; the fake: every
answer of a poll is kept); then, alternating dlt, streamledger, dlt, streamledger:

- in-run time of a steady-state poll: dlt's pipeline.run in one long-lived process; streamledger's
  tests.helpers.run_poll (what the snapshot flow's tasks call) in this process, as poll_wall times it;
- requests per poll: the requests the fake served (GET /_fake/stats) during the poll, and how many of them it
  had to ask of the simulator (none, in the steady state);

then, alternating again, whole processes against the warm destinations: a fresh dlt-env python running
the pipeline once; a fresh python polling once without Prefect (the same run_poll); and a fresh
`streamledger snapshot` (one Prefect flow run) on a Prefect server this suite keeps running, as
`streamledger serve` keeps one. Last, what each stored: the types and nulls of the session figures, the
columns the API sent that were not stored, and whether a stream key or the token is stored in clear (every
table of each DuckDB file, and the files each tool keeps beside it).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import duckdb
import httpx

from benchmarks.charts import new_chart, save
from benchmarks.common import DATA_DIR, RESULTS_DIR, ROOT, Figure
from benchmarks.fake_api import fake_api
from benchmarks.poll_overhead import UNLIMITED, all_live_config, settings_for
from simulator import SimulatorConfig
from tests.helpers import run_poll

DLT_VERSION = "1.31.0"
DLT_ENV = DATA_DIR / "dlt-env"
DLT_PYTHON = DLT_ENV / "bin" / "python"
PIPELINE_SCRIPT = Path(__file__).with_name("peer_dlt_pipeline.py")
MARK = "PEER_DLT "  # peer_dlt_pipeline.MARK (not imported: that module imports dlt)
WORKDIR = DATA_DIR / "peer_dlt"
STREAMLEDGER = Path(sys.executable).parent / "streamledger"  # the command of this environment
IN_RUN_RATIO = 1 / 3  # the issue: streamledger's steady poll at most a third of dlt's in-run time
PROCESS_RATIO = 1 / 2  # and its whole process at most half of dlt's
# dlt sends nothing home during the benchmark (its anonymous telemetry is on by default).
DLT_QUIET = {"RUNTIME__DLTHUB_TELEMETRY": "false"}
DLT_SETTINGS = "defaults; dependent resource parallelized (5 workers), single_page paginator, 404 ignored"
PLAIN_CHILD = """
import json
from streamledger.settings import Settings
from tests.helpers import run_poll
row = run_poll(Settings.from_env(api=True), check=False)
print(json.dumps({"outcome": row.outcome, "requests": row.requests}))
"""
SPLIT = ("network_seconds", "normalize_seconds", "load_seconds")  # of streamledger's ledger row
KEY_RUN = re.compile(r"[0-9a-f]{48,}")  # the simulator's stream keys: 48 hex digits


def ensure_dlt_env() -> Path:
    """The python of data/bench/dlt-env with dlt[duckdb]==DLT_VERSION, made with our uv if missing."""
    # uv venv, then uv pip install into that venv alone: the project's environment is never touched.
    check = [str(DLT_PYTHON), "-c", "import dlt, duckdb; print(dlt.__version__)"]
    if DLT_PYTHON.exists():
        found = subprocess.run(check, capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.strip() == DLT_VERSION:
            return DLT_PYTHON
    uv = ROOT / ".tools" / "bin" / "uv"
    env = os.environ | {"UV_PYTHON_DOWNLOADS": "never"}
    print(f"making {DLT_ENV} with dlt[duckdb]=={DLT_VERSION}", flush=True)
    subprocess.run([str(uv), "venv", str(DLT_ENV), "--python", sys.executable], env=env, check=True)
    subprocess.run(
        [str(uv), "pip", "install", "--python", str(DLT_PYTHON), f"dlt[duckdb]=={DLT_VERSION}"],
        env=env,
        check=True,
    )
    subprocess.run(check, capture_output=True, check=True)
    return DLT_PYTHON


def dlt_env_vars(root: str, config: SimulatorConfig, folder: Path) -> dict[str, str]:
    """The environment of the dlt script: the app's base URL, the token, its folder."""
    app = config.app_ids[0]
    return (
        os.environ
        | DLT_QUIET
        | {
            "PEER_DLT_BASE_URL": f"{root}/client/v4/accounts/{config.account_id}/realtime/kit/{app}/",
            "PEER_DLT_TOKEN": config.token,
            "PEER_DLT_DIR": str(folder),
        }
    )


def streamledger_env_vars(root: str, config: SimulatorConfig, folder: Path) -> dict[str, str]:
    """The environment of a streamledger process polling the fake into the warehouse in `folder`."""
    return os.environ | {
        "CLOUDFLARE_API_TOKEN": config.token,
        "CLOUDFLARE_ACCOUNT_ID": config.account_id,
        "REALTIMEKIT_APP_ID": ",".join(config.app_ids),
        "CLOUDFLARE_BASE_URL": f"{root}/client/v4",
        "STREAMLEDGER_DATABASE": str(folder / "bench.duckdb"),  # settings_for's warehouse
        "STREAMLEDGER_LANDING_DIR": str(folder / "landing"),
        "STREAMLEDGER_BUDGET_REQUESTS": str(UNLIMITED),
        "STREAMLEDGER_BURST_REQUESTS": str(UNLIMITED),
        "STREAMLEDGER_PREFECT_HOME": str(folder / "prefect-client"),
        "PREFECT_HOME": str(folder / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def served(root: str) -> tuple[int, int]:
    """The API requests the fake has served so far, and how many of them it asked of the simulator."""
    stats = httpx.get(f"{root}/_fake/stats", timeout=10).json()
    return int(stats["requests_total"]), int(stats["misses"])


def answer_of(stdout: IO[str] | str) -> dict[str, Any]:
    """The dlt script's answer: its MARK line (of a stream, read up to it; or of a finished output)."""
    lines = stdout.splitlines() if isinstance(stdout, str) else iter(stdout.readline, "")
    for line in lines:
        if line.startswith(MARK):
            result: dict[str, Any] = json.loads(line[len(MARK) :])
            return result
    raise RuntimeError("the dlt script ended without an answer (see its log)")


@contextlib.contextmanager
def dlt_server(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[str]]:
    """The dlt script in `serve` mode: one long-lived process running the pipeline on each line `run`."""
    with log.open("a") as errors:
        child = subprocess.Popen(
            [str(DLT_PYTHON), str(PIPELINE_SCRIPT), "serve"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            yield child
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def dlt_poll(child: subprocess.Popen[str]) -> dict[str, Any]:
    """One pipeline.run in the long-lived dlt process."""
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write("run\n")
    child.stdin.flush()
    return answer_of(child.stdout)


def children_cpu() -> float:
    """CPU seconds (user and system) of this process's finished and waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process(command: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run a fresh process to its end: its wall and CPU seconds and stdout (its stderr goes to `log`)."""
    # The CPU seconds are the process's own: the fake (its simulator inside) and the Prefect server, children
    # of this process too, still run, so the kernel has not added theirs to RUSAGE_CHILDREN.
    with log.open("a") as errors:
        cpu, started = children_cpu(), time.perf_counter()
        done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
        seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} ended with status {done.returncode}: see {log}")
    return {"seconds": seconds, "cpu_seconds": cpu, "stdout": done.stdout}


def outcome_of(arm: str, stdout: str) -> dict[str, Any]:
    """What a fresh process says it did: dlt's rows, the plain poll's outcome (snapshot: its one line)."""
    if arm == "dlt":
        return {"rows": answer_of(stdout)["rows"]}
    lines = stdout.strip().splitlines() or [""]
    if arm == "streamledger":
        return {"outcome": json.loads(lines[-1])["outcome"]}
    return {"line": lines[-1][:200]}


def counted(root: str, fn: Any, *args: Any) -> tuple[Any, dict[str, int]]:
    """fn(*args), and the requests the fake served meanwhile (misses: those it asked of the simulator)."""
    requests, misses = served(root)
    value = fn(*args)
    after, missed = served(root)
    return value, {"requests": after - requests, "misses": missed - misses}


def measure(size: int, runs: int, process_runs: int, prefect_url: str | None) -> dict[str, Any]:
    """Every figure of one fleet size: in-run polls, whole processes, requests and what each stored."""
    folder = WORKDIR / f"n{size}"
    shutil.rmtree(folder, ignore_errors=True)
    dlt_dir, sl_dir = folder / "dlt", folder / "streamledger"
    dlt_dir.mkdir(parents=True)
    sl_dir.mkdir(parents=True)
    config = all_live_config(size)
    log = folder / "processes.log"
    polls: dict[str, list[dict[str, Any]]] = {"dlt": [], "streamledger": []}
    processes: dict[str, list[dict[str, Any]]] = {"dlt": [], "streamledger": [], "snapshot": []}
    with fake_api(config) as root:
        settings = settings_for(root, config, sl_dir)
        dlt_env = dlt_env_vars(root, config, dlt_dir)
        sl_env = streamledger_env_vars(root, config, sl_dir)

        def sl_poll() -> dict[str, Any]:
            cpu, started = time.process_time(), time.perf_counter()
            row = run_poll(settings, check=False)
            return {
                "run_seconds": time.perf_counter() - started,
                "cpu_seconds": time.process_time() - cpu,
                "outcome": row.outcome,
                "rows": row.sessions,
                **{part: getattr(row, part) for part in SPLIT},
            }

        with dlt_server(dlt_env, log) as child:
            for index in range(runs + 1):  # the first of each: the warm-up poll
                for tool, poll in (("dlt", lambda: dlt_poll(child)), ("streamledger", sl_poll)):
                    result, sent = counted(root, poll)
                    polls[tool].append(result | sent | {"first": index == 0})
        if prefect_url is not None:  # the server's first flow run registers the flow: not timed
            process([str(STREAMLEDGER), "snapshot"], sl_env | {"PREFECT_API_URL": prefect_url}, log)
        commands = {
            "dlt": ([str(DLT_PYTHON), str(PIPELINE_SCRIPT), "once"], dlt_env),
            "streamledger": ([sys.executable, "-c", PLAIN_CHILD], sl_env),
        }
        if prefect_url is not None:
            commands["snapshot"] = (
                [str(STREAMLEDGER), "snapshot"],
                sl_env | {"PREFECT_API_URL": prefect_url},
            )
        for _ in range(process_runs):
            for arm, (command, env) in commands.items():
                result, sent = counted(root, process, command, env, log)
                processes[arm].append(
                    {"seconds": result["seconds"], "cpu_seconds": result["cpu_seconds"]}
                    | sent
                    | outcome_of(arm, result["stdout"])
                )
        sample = session_sample(root, config)
        secrets = (config.token, *stream_keys(root))
    stored = {
        "dlt": stored_by_dlt(dlt_dir, sample, secrets),
        "streamledger": stored_by_streamledger(sl_dir, sample, secrets),
    }
    return {
        "livestreams": size,
        "polls": polls,
        "processes": processes,
        "stored": stored,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def session_sample(root: str, config: SimulatorConfig) -> list[str]:
    """The fields of one active session as the API answers it (one request after every counted one)."""
    listed = httpx.get(
        f"{root}/client/v4/accounts/{config.account_id}/realtime/kit/{config.app_ids[0]}/livestreams",
        params={"status": "LIVE", "per_page": 1},
        headers={"Authorization": f"Bearer {config.token}"},
        timeout=10,
    ).json()
    livestream = listed["data"][0]["id"]
    body = httpx.get(
        f"{root}/client/v4/accounts/{config.account_id}/realtime/kit/{config.app_ids[0]}/livestreams/"
        f"{livestream}/active-livestream-session",
        headers={"Authorization": f"Bearer {config.token}"},
        timeout=10,
    ).json()
    return sorted(body["data"]["session"])


def stream_keys(root: str) -> list[str]:
    """Every livestream's stream key, from the simulator's ground truth."""
    body = httpx.get(f"{root}/_simulator/livestreams", timeout=30).json()
    return [livestream["stream_key"] for livestream in body["livestreams"]]


def in_clear(texts: Iterator[str], secrets: tuple[str, ...]) -> dict[str, int]:
    """How many of the texts hold the token (secrets[0]) and how many distinct stream keys appear in them."""
    token, keys = secrets[0], set(secrets[1:])
    holding_token, seen = 0, set()
    for text in texts:
        holding_token += token in text
        for run in KEY_RUN.findall(text):
            seen |= {run[i : i + 48] for i in range(len(run) - 47)} & keys
    return {"token": holding_token, "stream_keys": len(seen)}


def table_texts(con: duckdb.DuckDBPyConnection, schema: str) -> Iterator[str]:
    """Every row of every table of the schema, as JSON text."""
    tables = con.execute(
        "select table_name from information_schema.tables"
        " where table_schema = ? and table_type = 'BASE TABLE'",
        [schema],
    ).fetchall()
    for (table,) in tables:
        for (text,) in con.execute(f'select to_json(t)::varchar from "{schema}"."{table}" t').fetchall():
            yield text


def file_texts(folder: Path) -> Iterator[str]:
    """Every file under the folder except DuckDB files, gunzipped where gzipped, as text."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.endswith((".duckdb", ".duckdb.wal", ".log")):
            data = path.read_bytes()
            yield (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode("utf-8", "replace")


def figure_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[dict[str, Any]]:
    """The session figure columns of a table (dlt's variant columns included): type, rows, nulls."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and "
        "table_name = ? and (column_name like 'ingest_seconds%' or column_name like 'viewer_seconds%') "
        "order by column_name",
        [schema, table],
    ).fetchall()
    out = []
    for name, kind in columns:
        rows, nulls = con.execute(
            f'select count(*), count(*) - count("{name}") from "{schema}"."{table}"'
        ).fetchone() or (0, 0)
        out.append({"table": table, "column": name, "type": kind, "rows": rows, "nulls": nulls})
    return out


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The column names of a table."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def stored_by_dlt(folder: Path, sample: list[str], secrets: tuple[str, ...]) -> dict[str, Any]:
    """What dlt's DuckDB (and its pipeline folder) holds."""
    con = duckdb.connect(str(folder / "dlt.duckdb"), read_only=True)
    try:
        columns = table_columns(con, "realtimekit", "active_sessions")
        return {
            "figures": figure_columns(con, "realtimekit", "active_sessions"),
            "not_stored": [name for name in sample if name not in columns],
            "in_clear_tables": in_clear(table_texts(con, "realtimekit"), secrets),
            "in_clear_files": in_clear(file_texts(folder), secrets),
            "file_bytes": (folder / "dlt.duckdb").stat().st_size,
        }
    finally:
        con.close()


def stored_by_streamledger(folder: Path, sample: list[str], secrets: tuple[str, ...]) -> dict[str, Any]:
    """What streamledger's warehouse (and its landing folder) holds."""
    con = duckdb.connect(str(folder / "bench.duckdb"), read_only=True)
    try:
        tables = [name for (name,) in con.execute("show tables").fetchall()]
        figures = [
            f for table in ("session_snapshots", "sessions") for f in figure_columns(con, "main", table)
        ]
        stored = {name for table in tables for name in table_columns(con, "main", table)}
        return {
            "figures": figures,
            "not_stored": [name for name in sample if name not in stored and name != "id"],
            "in_clear_tables": in_clear(table_texts(con, "main"), secrets),
            "in_clear_files": in_clear(file_texts(folder), secrets),
            "file_bytes": (folder / "bench.duckdb").stat().st_size,
        }
    finally:
        con.close()


@contextlib.contextmanager
def prefect_server() -> Iterator[str | None]:
    """A Prefect server for `streamledger snapshot`, as `streamledger serve` keeps one; None if it fails."""
    from streamledger.prefect_server import local_prefect_server

    try:
        with local_prefect_server(WORKDIR / "prefect-server") as url:
            yield url
    except RuntimeError as error:
        print(f"no Prefect server ({error}): no `streamledger snapshot` figures", flush=True)
        yield None


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Both tools on the same fleets, alternating; the figures and every poll's and process's numbers."""
    ensure_dlt_env()
    sizes = (100,) if quick else (100, 1_000)
    runs, process_runs = (3, 2) if quick else (7, 5)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    with prefect_server() as prefect_url:
        curve = []
        for size in sizes:
            print(f"{size:,} live livestreams: {runs} polls and {process_runs} processes each", flush=True)
            point = measure(size, runs, process_runs, prefect_url)
            curve.append(point)
            if missed := misses(point):
                print(f"  warning: the fake asked the simulator {missed} times after warm-up", flush=True)
    context = {
        "dlt": DLT_VERSION,
        "dlt_settings": DLT_SETTINGS,
        "runs": runs,
        "process_runs": process_runs,
        "curve": curve,
    }
    print("\n".join([*figure_lines(context), "", *stored_lines(context)]))
    return figures(curve), context


def misses(point: dict[str, Any]) -> int:
    """Answers the fake had to ask of the simulator during the steady-state polls and fresh processes."""
    steady_polls = [p for runs in point["polls"].values() for p in runs if not p["first"]]
    processes = [p for runs in point["processes"].values() for p in runs]
    return sum(int(p.get("misses", 0)) for p in steady_polls + processes)


def steady(point: dict[str, Any], tool: str, field: str) -> list[float]:
    """A field of each steady-state poll of one tool (none if the results predate the field)."""
    return [float(p[field]) for p in point["polls"][tool] if not p["first"] and field in p]


def fresh(point: dict[str, Any], arm: str, field: str) -> list[float]:
    """A field of each fresh process of one arm."""
    return [float(p[field]) for p in point["processes"].get(arm, []) if field in p]


def ratios(over: list[float], under: list[float]) -> list[float]:
    """The ratio of each pair of alternating runs."""
    return [a / b for a, b in zip(over, under, strict=True)]


# What is compared: key, what, unit, of the polls or the fresh processes, streamledger's arm, field, target.
COMPARED: tuple[tuple[str, str, str, str, str, str, float | None], ...] = (
    ("run", "in-run time of a steady-state poll", "s", "polls", "streamledger", "run_seconds", IN_RUN_RATIO),
    ("run_cpu", "  its CPU time (the tool's process)", "s", "polls", "streamledger", "cpu_seconds", None),
    *(
        row
        for arm, what in (("streamledger", "no Prefect"), ("snapshot", "`streamledger snapshot`"))
        for row in (
            (
                f"{arm}_process",
                f"whole process, one steady-state poll: {what}",
                "s",
                "processes",
                arm,
                "seconds",
                PROCESS_RATIO,
            ),
            (f"{arm}_process_cpu", "  its CPU time", "s", "processes", arm, "cpu_seconds", None),
        )
    ),
    ("requests", "requests per steady-state poll", "requests", "polls", "streamledger", "requests", None),
)


def comparisons(point: dict[str, Any]) -> list[tuple[str, str, str, list[float], list[float], float | None]]:
    """(key, what, unit, dlt's runs, streamledger's runs, target of the ratio) of one fleet size."""
    rows = []
    for key, what, unit, where, arm, field, target in COMPARED:
        pick = steady if where == "polls" else fresh
        dlt_runs, ours = pick(point, "dlt", field), pick(point, arm, field)
        if dlt_runs and ours:
            rows.append((key, what, unit, dlt_runs, ours, target))
    return rows


def figures(curve: list[dict[str, Any]]) -> list[Figure]:
    """Each comparison of each fleet size: dlt's runs, streamledger's, and their ratio pair by pair."""
    out = []
    for point in curve:
        n = point["livestreams"]
        size = f"{n:,} live livestreams, load {point['load_average_1m']}"
        shown: set[tuple[str, tuple[float, ...]]] = set()  # dlt's processes are compared with two arms
        for key, what, unit, dlt_runs, ours, target in comparisons(point):
            kind = what.split(":")[0].strip()
            if (kind, tuple(dlt_runs)) not in shown:
                shown.add((kind, tuple(dlt_runs)))
                out.append(Figure(f"peer_dlt.{key}.dlt.n{n}", f"dlt: {kind}", size, unit, dlt_runs))
            out += [
                Figure(
                    f"peer_dlt.{key}.streamledger.n{n}", f"streamledger: {what.strip()}", size, unit, ours
                ),
                Figure(
                    f"peer_dlt.{key}.ratio.n{n}",
                    "  streamledger / dlt (alternating pairs)",
                    size,
                    "x",
                    ratios(ours, dlt_runs),
                    target=target,
                ),
            ]
    return out


def spread(values: list[float], digits: int = 2) -> str:
    """A median and its range: `1.23 (1.01-1.57)`."""
    if not values:
        return "-"
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def figure_lines(context: dict[str, Any]) -> list[str]:
    """The section's table: each figure of dlt beside streamledger's, their ratio and the target."""
    lines = [
        "| N (load) | figure | dlt | streamledger | streamledger / dlt | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for point in context["curve"]:
        n = f"{point['livestreams']:,} ({point['load_average_1m']})"
        for _, what, unit, dlt_runs, ours, target in comparisons(point):
            digits = 0 if unit == "requests" else 2
            pairs = ratios(ours, dlt_runs)
            met = "" if target is None else ("yes" if statistics.median(pairs) <= target else "**no**")
            goal = "" if target is None else f"≤ {target:.2f}"
            lines.append(
                f"| {n} | {what} ({unit}) | {spread(dlt_runs, digits)} | {spread(ours, digits)} "
                f"| {spread(pairs)} | {goal} | {met} |"
            )
    return lines


def stored_lines(context: dict[str, Any]) -> list[str]:
    """What each tool stored, as a Markdown table."""
    lines = [
        "| N | tool | session figures: column (type) nulls/rows | API fields not stored "
        "| token in clear (rows; files) | stream keys in clear (tables; files) |",
        "|---:|---|---|---|---|---|",
    ]
    for point in context["curve"]:
        for tool, stored in point["stored"].items():
            figures = ", ".join(
                f"{f['table']}.{f['column']} ({f['type']}) {f['nulls']:,}/{f['rows']:,}"
                for f in stored["figures"]
            )
            missing = ", ".join(stored["not_stored"]) or "none"
            tables, files = stored["in_clear_tables"], stored["in_clear_files"]
            lines.append(
                f"| {point['livestreams']:,} | {tool} | {figures} | {missing} "
                f"| {tables['token']}; {files['token']} "
                f"| {tables['stream_keys']:,}; {files['stream_keys']:,} |"
            )
    return lines


def charts(document: dict[str, Any]) -> list[Path]:
    """Medians and ranges of each tool's in-run and whole-process time at each fleet size."""
    figure, axes = new_chart(
        "dlt rest_api against streamledger, same fleet", "", "seconds (median; bars: min to max)"
    )
    arms = (
        ("dlt in-run", "dlt", True),
        ("streamledger in-run", "streamledger", True),
        ("dlt process", "dlt", False),
        ("streamledger process", "streamledger", False),
        ("streamledger snapshot process", "snapshot", False),
    )
    curve = document["context"]["curve"]
    width = 0.8 / len(arms)
    for index, (label, arm, in_run) in enumerate(arms):
        xs, medians, low, high = [], [], [], []
        for position, point in enumerate(curve):
            values = steady(point, arm, "run_seconds") if in_run else fresh(point, arm, "seconds")
            if values:
                middle = statistics.median(values)
                xs.append(position + (index - (len(arms) - 1) / 2) * width)
                medians.append(middle)
                low.append(middle - min(values))
                high.append(max(values) - middle)
        axes.bar(xs, medians, width, yerr=[low, high], capsize=3, label=label)
    axes.set_xticks(range(len(curve)), [f"{p['livestreams']:,} live livestreams" for p in curve])
    axes.legend(fontsize=8)
    return [save(figure, "peer_dlt")]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--table", action="store_true", help="print the tables of the latest results")
    parser.parse_args()
    document = json.loads((RESULTS_DIR / "peer_dlt.json").read_text())
    print("\n".join(figure_lines(document["context"])), end="\n\n")
    print("\n".join(stored_lines(document["context"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
