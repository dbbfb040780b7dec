"""The demo: the simulator, real snapshot flow runs for about a minute, then what DuckDB holds."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from simulator import SimulatorConfig, running_simulator, verify
from streamledger.errors import StreamledgerError
from streamledger.export import export_month
from streamledger.poll import PollRun
from streamledger.reports import run_report
from streamledger.tables import print_table

# Longer than the demo's final_after_seconds (at most 6 s), as the default 120 s is than the API's ~62 s.
DEMO_SETTLE_SECONDS = 10.0


def run_demo(*, seconds: float, interval: float, livestreams: int, seed: int, database: Path) -> int:
    """Poll a simulated account with real Prefect flow runs, print the history and check it; exit status."""
    # Short sessions so that a minute shows starts, stops, errors, placeholders, dips and sessions shorter
    # than the poll interval. The API's timings are shortened to fit a minute, explicitly: the placeholder
    # lasts 3-5 s (the API: 40-50 s), the final figures land 3-6 s after a stop (the API: about a minute),
    # and the product settles after 10 s (STREAMLEDGER_SETTLE_SECONDS below; its default is 120 s). The
    # account has been running for a while already, so some livestreams are live at the first poll.
    config = SimulatorConfig(
        seed=seed,
        livestreams=livestreams,
        gap_seconds=(3.0, 15.0),
        live_seconds=(10.0, 40.0),
        short_share=0.2,
        short_live_seconds=(1.0, interval * 0.8),
        placeholder_seconds=(3.0, 5.0),
        final_after_seconds=(3.0, 6.0),
        report_lag_seconds=2.0,
        dip_share=0.05,
        linger_seconds=interval,
        start_at=datetime.now(UTC) - timedelta(seconds=90),
    )
    for stale in (database, database.with_name(database.name + ".wal")):
        stale.unlink(missing_ok=True)
    landing = database.parent / "demo-landing"
    with running_simulator(config) as sim:
        print(f"simulator: {sim.base_url} ({livestreams} livestreams, seed {seed}); database: {database}")
        # The flow reads its settings from the environment, exactly as a scheduled run does.
        os.environ.update(
            {
                "CLOUDFLARE_API_TOKEN": config.token,
                "CLOUDFLARE_ACCOUNT_ID": config.account_id,
                "REALTIMEKIT_APP_ID": ",".join(config.app_ids),
                "CLOUDFLARE_BASE_URL": sim.base_url,
                "STREAMLEDGER_DATABASE": str(database),
                "STREAMLEDGER_LANDING_DIR": str(landing),
                "STREAMLEDGER_POLL_INTERVAL_SECONDS": str(interval),
                "STREAMLEDGER_RECONCILE_DAYS": "1",
                "STREAMLEDGER_SETTLE_SECONDS": str(DEMO_SETTLE_SECONDS),
            }
        )
        from streamledger.flows.reconcile import reconcile
        from streamledger.flows.snapshot import snapshot

        print("starting Prefect (the first flow run starts a temporary Prefect server)...", flush=True)
        started = time.monotonic()
        polls = 0
        while polls == 0 or time.monotonic() - started < seconds:
            tick = time.monotonic()
            state = snapshot(return_state=True)
            polls += 1
            if not state.is_completed():
                raise StreamledgerError(f"demo: snapshot flow run failed: {state.message}")
            run = state.result()
            if polls == 1:
                started = time.monotonic()  # the minute of polling starts once Prefect is up
            print(f"poll {polls:>2} " + (run.summary() if isinstance(run, PollRun) else str(state.message)))
            time.sleep(max(0.0, interval - (time.monotonic() - tick)))
        if not reconcile(return_state=True).is_completed():
            raise StreamledgerError("demo: reconcile flow run failed")
        truth = verify.fetch_truth(sim.root_url)
    print()
    today = {"from_date": datetime.now(UTC).date(), "to_date": datetime.now(UTC).date()}
    print_table(run_report(database, "usage-by-livestream", today), title="usage-by-livestream, today (UTC)")
    print()
    print_table(run_report(database, "reconciliation", today), title="reconciliation, today (UTC)")
    comparison = verify.compare(database, truth)
    print(
        f"\nground truth: {comparison.matched} of {comparison.seen} sessions in the warehouse match the "
        f"simulator, which created {comparison.truth}; {comparison.final_seen} are final with their exact "
        f"final figures, {comparison.unfinished} stopped but are still being finalized"
    )
    for line in comparison.mismatches[:10]:
        print(f"  mismatch: {line}")
    month = datetime.now(UTC).strftime("%Y-%m")
    export = export_month(database, month, database.parent / "demo-exports")
    print(f"\nfinance export of {month} (the month is not over, so every file says provisional):")
    for file in export.files:
        print(f"  {file}")
    duckdb_cli = Path(sys.executable).parent / "duckdb"
    print("\nquery it yourself:")
    command = Path(sys.executable).parent / "streamledger"  # the product's command, beside this Python
    print(f'  {command} sql "select * from session_log limit 5" --database {database}')
    print(f"  {command} report --list")
    print(f"  {duckdb_cli if duckdb_cli.exists() else 'duckdb'} -readonly {database}")
    return 0 if comparison.ok else 1
