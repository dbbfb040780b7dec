"""Budget use: 300 livestreams live for 10 minutes, polled once a minute against the default request budget.

The simulator runs in its own process with its default budget (1,200 requests per 300 s; a request beyond it
is answered 429 and blocks the token for 300 s) on a real clock, so simulated time is real time. Each of the
300 livestreams has one session, live for hours from before the first poll to after the last. The polls run
as the scheduled flow runs them: one fresh process per poll (Prefect's runner starts each flow run in its
own process, so each poll seeds its budget from raw_responses), calling helpers.run_poll with default Settings
(concurrency 8, 60 s interval, ...) on the minute grid of the wall clock. A slot whose previous poll is still
running is skipped, as the deployment's CANCEL_NEW does. Quick mode polls 3 times (3 minutes).

Run with `python -m benchmarks --suite budget_use` or `python -m benchmarks.budget_use [--quick]`.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import shutil
import statistics
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.charts import new_chart, save
from benchmarks.common import DATA_DIR, SEED, Figure, in_fresh_process, simulator_process, table_lines
from simulator import SimulatorConfig, verify
from streamledger import warehouse
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll

LIVESTREAMS = 300
POLLS, QUICK_POLLS = 10, 3
LEAD_SECONDS = 5.0  # a poll's process is started this long before its slot, to import in time
TARGET_SHARE = 95.0
WORKDIR = DATA_DIR / "budget_use"


def fleet_config() -> SimulatorConfig:
    """300 livestreams, each live for 4-8 hours from about 2 minutes ago; the budget is the default one."""
    return SimulatorConfig(
        seed=SEED,
        livestreams=LIVESTREAMS,
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(4 * 3600.0, 8 * 3600.0),
        errored_share=0.0,  # every first session goes LIVE and stays live: none errors or stops
        odd_status_share=0.0,
        start_at=datetime.now(UTC) - timedelta(seconds=120),
    )


def settings_for(root: str, config: SimulatorConfig, workdir: Path) -> Settings:
    """Default Settings pointed at the simulator and a fresh warehouse in workdir."""
    return Settings(
        api_token=Secret(config.token),
        account_id=config.account_id,
        app_ids=config.app_ids,
        base_url=f"{root}/client/v4",
        database=workdir / "budget.duckdb",
        landing_dir=workdir / "landing",
    )


def scheduled_poll(settings: Settings, at: float) -> dict[str, Any]:
    """Wait until `at` (epoch seconds), run one poll; return its ledger row with when it ran."""
    time.sleep(max(0.0, at - time.time()))
    started = time.time()
    row = run_poll(settings, check=False)
    return asdict(row) | {"run_started": started, "run_finished": time.time()}


def latest_readings(database: Path) -> dict[str, float]:
    """The time of each session's latest active-session reading in the warehouse (epoch seconds)."""
    if not database.exists():
        return {}
    con = warehouse.connect(database, read_only=True)
    try:
        rows = con.execute(
            "select session_id, epoch(max(fetched_at)) from session_snapshots"
            " where endpoint = 'active_session' group by session_id"
        ).fetchall()
    finally:
        con.close()
    return {session_id: float(at) for session_id, at in rows}


def warehouse_rows(database: Path) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Every raw response (with its send time), and each session's active-session reading times."""
    con = warehouse.connect(database, read_only=True)
    try:
        raw = con.sql(
            "select poll_id, seq, endpoint, attempt, http_status, outcome, epoch(fetched_at) as received,"
            " epoch(fetched_at) - elapsed_ms / 1000 as sent from raw_responses order by sent"
        ).pl()
        readings = con.execute(
            "select session_id, epoch(fetched_at) from session_snapshots"
            " where endpoint = 'active_session' order by 1, 2"
        ).fetchall()
    finally:
        con.close()
    by_session: dict[str, list[float]] = {}
    for session_id, at in readings:
        by_session.setdefault(session_id, []).append(float(at))
    return raw.to_dicts(), by_session


def max_in_window(times: list[float], window: float) -> int:
    """The most of `times` inside any half-open window (t - window, t]."""
    ordered = sorted(times)
    return max((i + 1 - bisect.bisect_right(ordered, t - window) for i, t in enumerate(ordered)), default=0)


def oldest_gap(times: list[float], since: float, until: float) -> float:
    """The oldest a session's latest reading ever got between since and until (never read: age since)."""
    points = [since, *sorted(t for t in times if since <= t <= until), until]
    return max(b - a for a, b in itertools.pairwise(points))


def run(quick: bool) -> tuple[list[Figure], dict[str, Any]]:
    """Poll the fleet once a minute in real time; return the figures and the per-poll context."""
    polls = QUICK_POLLS if quick else POLLS
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    config = fleet_config()
    with simulator_process(config) as root:
        settings = settings_for(root, config, WORKDIR)
        interval = settings.poll_interval_seconds
        live = {
            sid
            for sid, s in verify.fetch_truth(root).items()
            if s["status"] == "LIVE" and not s["stopped_time"]
        }
        first_slot = math.ceil((time.time() + LEAD_SECONDS + 1) / interval) * interval
        slots = [first_slot + k * interval for k in range(polls)]
        rows: list[dict[str, Any]] = []
        skipped: list[int] = []
        ages_at_start: list[list[float]] = []
        for k, slot in enumerate(slots):
            if time.time() > slot:  # the previous poll still runs: the deployment cancels this one
                skipped.append(k)
                continue
            time.sleep(max(0.0, slot - LEAD_SECONDS - time.time()))
            latest = latest_readings(settings.database)
            ages_at_start.append([slot - latest.get(sid, first_slot) for sid in live])
            print(f"poll {k + 1}/{polls} at {datetime.fromtimestamp(slot, UTC):%H:%M:%S}", flush=True)
            _, _, row = in_fresh_process(scheduled_poll, settings, slot, timeout=interval * 5)
            rows.append(row | {"slot": slot, "index": k})
        observed_until = max(r["run_finished"] for r in rows)
        stats = httpx.get(f"{root}/_simulator/stats", timeout=10).json()
        truth = verify.fetch_truth(root)
    still_live = {sid for sid in live if truth[sid]["status"] == "LIVE" and not truth[sid]["stopped_time"]}
    raw, readings = warehouse_rows(settings.database)
    run_facts = {
        "polls": polls,
        "rows": rows,
        "skipped": skipped,
        "ages_at_start": ages_at_start,
        "first_slot": first_slot,
        "observed_until": observed_until,
        "live": live,
        "still_live": still_live,
        "stats": stats,
    }
    return assemble(settings, run_facts, raw, readings)


def assemble(
    settings: Settings, facts: dict[str, Any], raw: list[dict[str, Any]], readings: dict[str, list[float]]
) -> tuple[list[Figure], dict[str, Any]]:
    """The figures, each defined in its note, and the per-poll context the charts draw."""
    polls, rows, live = facts["polls"], facts["rows"], facts["live"]
    interval = settings.poll_interval_seconds
    limit, window = settings.budget_requests, settings.budget_window_seconds
    first_send = min(r["sent"] for r in raw)
    span = polls * interval
    in_span = [r for r in raw if first_send <= r["sent"] < first_send + span]
    answered = [r for r in in_span if r["http_status"] is not None]
    admitted = [r for r in answered if r["http_status"] != 429]
    useful = [r for r in in_span if r["outcome"] == "data" and 200 <= r["http_status"] < 300]
    budget = limit * span / window
    raw_429 = sum(1 for r in raw if r["http_status"] == 429)
    sim_429 = int(facts["stats"]["rate_limited"])
    busiest = max_in_window([r["sent"] for r in raw if r["http_status"] is not None], window)

    by_poll: dict[str, list[dict[str, Any]]] = {}
    for r in raw:
        by_poll.setdefault(r["poll_id"], []).append(r)
    per_poll = []
    for row, ages in zip(rows, facts["ages_at_start"], strict=True):
        mine = by_poll.get(row.poll_id, [])
        reads_done = max(
            (r["received"] for r in mine if r["endpoint"] == "active_session"), default=row["slot"]
        )
        per_poll.append(
            {
                "index": row["index"],
                "minute": (row["slot"] - facts["first_slot"]) / 60,
                "started_late_s": round(row["run_started"] - row["slot"], 3),
                "reads_done_after_s": round(reads_done - row["slot"], 3),
                "finished_after_s": round(row["run_finished"] - row["slot"], 3),
                "network_seconds": row.network_seconds,
                "outcome": row.outcome,
                "message": (row.message or "").split("\n")[0][:200],
                "allowance": row.allowance,
                "discovery": row.discovery_requests,
                **{k: row[k] for k in ("planned_final", "planned_live", "planned_sweep", "deferred_live")},
                "requests": row.requests,
                "retries": row.retries,
                "rate_limited": row.rate_limited,
                "useful": sum(1 for r in mine if r["outcome"] == "data" and 200 <= r["http_status"] < 300),
                "max_age_at_start_s": round(max(ages), 1),
                "median_age_at_start_s": round(statistics.median(ages), 1),
            }
        )

    share = math.ceil(limit * interval / window)
    pages = math.ceil(LIVESTREAMS / settings.per_page)
    reads_per_poll = share - pages
    every = math.ceil(len(live) / reads_per_poll)
    fewest = min(p["planned_live"] for p in per_poll)
    send_span = max(p["reads_done_after_s"] for p in per_poll)
    bound = every * interval + send_span
    oldest = max(
        oldest_gap(readings.get(sid, []), facts["first_slot"], facts["observed_until"]) for sid in live
    )
    sampled = max(p["max_age_at_start_s"] for p in per_poll)
    bound_note = (
        "for every session live through the run, the longest its latest active-session reading in the "
        "warehouse (session_snapshots fetched_at) was old at any moment from the first poll's slot to the "
        "last poll's end (a session not read yet counts from the first slot); at a poll's start at most "
        f"{sampled:.1f} s. Bound: the budget allows {share} requests a poll ({limit:,} x {interval:g} / "
        f"{window:g}), {pages} of them list pages, so {reads_per_poll} active-session reads; least recently "
        f"read first, each of the {len(live)} live sessions is then read at least every "
        f"ceil({len(live)}/{reads_per_poll}) = {every} polls (this run's fewest reads in a poll, {fewest}, "
        f"give every {math.ceil(len(live) / max(1, fewest))}), so its reading is never older than "
        f"{every} x {interval:g} s + D, D = {send_span:.1f} s the longest a poll took from its slot to its "
        "last active-session answer."
    )
    size = f"{len(live)} live livestreams, {polls} polls a minute apart, {limit:,} per {window:g} s"
    span_text = f"[first send, first send + {span:g} s)"
    figures = [
        Figure(
            key="budget_use.rate_limited",
            what="429 answers",
            size=size,
            unit="requests",
            runs=[float(max(sim_429, raw_429))],
            target=0.0,
            note=(
                f"429 answers over the whole run: the simulator's own count (/_simulator/stats rate_limited: "
                f"{sim_429}) and the raw_responses rows with http_status 429 ({raw_429}); the figure is the "
                "larger. Any 429 blocks the token for 300 s."
            ),
            extra={"simulator": sim_429, "raw_responses": raw_429, "by_status": facts["stats"]["by_status"]},
        ),
        Figure(
            key="budget_use.requests_sent",
            what="requests sent",
            size=size,
            unit="requests",
            runs=[float(len(raw))],
            note=(
                "raw_responses rows of the run (one per request sent, retries and requests without an answer "
                f"included); the simulator counted {facts['stats']['requests_total']}. Sent within "
                f"{span_text}: {len(in_span)}, answered other than 429 (admitted by the budget): "
                f"{len(admitted)}."
            ),
            extra={
                "in_span": len(in_span),
                "admitted_in_span": len(admitted),
                "simulator_requests_total": facts["stats"]["requests_total"],
            },
        ),
        Figure(
            key="budget_use.budget",
            what="budget available over the run",
            size=size,
            unit="requests",
            runs=[budget],
            note=(
                f"{limit:,} requests per {window:g} s, as a rate, over {span_text} ({polls} poll intervals): "
                f"{limit:,} x {span:g} / {window:g}. A send time is fetched_at - elapsed_ms. For a span of "
                f"two whole windows (600 s) this is also the most the sliding window can admit in it (two "
                f"disjoint windows of {limit:,}); for a shorter span it is the share a steady poller may use."
            ),
        ),
        Figure(
            key="budget_use.useful_reads",
            what="useful reads",
            size=size,
            unit="requests",
            runs=[float(len(useful))],
            note=(
                f"requests sent within {span_text} whose answer was a 2xx delivering data (raw_responses "
                "outcome 'data'): discovery pages, active-session reads, finalization reads and sweep pages. "
                "Retried attempts, errors and 429s are not useful."
            ),
            extra={
                endpoint: sum(1 for r in useful if r["endpoint"] == endpoint)
                for endpoint in sorted({r["endpoint"] for r in useful})
            },
        ),
        Figure(
            key="budget_use.useful_share",
            what="useful reads / budget",
            size=size,
            unit="%",
            runs=[100 * len(useful) / budget],
            target=TARGET_SHARE,
            better="higher",
            note="useful reads divided by the budget available over the run, both as defined above.",
        ),
        Figure(
            key="budget_use.max_in_window",
            what=f"most requests in any {window:g} s window",
            size=size,
            unit="requests",
            runs=[float(max(busiest, int(facts["stats"]["max_in_window"])))],
            target=float(limit),
            note=(
                f"the most requests inside any window (t - {window:g} s, t]: the simulator's max_in_window "
                f"({facts['stats']['max_in_window']}, on arrival times) and the same over our send times "
                f"({busiest}); the figure is the larger."
            ),
        ),
        Figure(
            key="budget_use.oldest_reading",
            what="oldest latest reading of a live session",
            size=size,
            unit="s",
            runs=[round(oldest, 1)],
            target=round(bound, 1),
            note=bound_note,
            extra={
                "fewest_reads_in_a_poll": fewest,
                "max_at_poll_start_s": sampled,
                "every_polls": every,
                "reads_per_poll": reads_per_poll,
                "poll_reads_span_s": send_span,
                "sessions": len(live),
                "still_live": len(facts["still_live"]),
            },
        ),
    ]
    series = []
    sends = sorted(r["sent"] for r in raw if r["http_status"] is not None)
    t = first_send
    while t <= first_send + span:
        count = bisect.bisect_right(sends, t) - bisect.bisect_right(sends, t - window)
        series.append((round(t - first_send, 1), count))
        t += 2.0
    context = {
        "polls": polls,
        "interval_seconds": interval,
        "livestreams": LIVESTREAMS,
        "live_sessions": len(live),
        "budget_requests": limit,
        "budget_window_seconds": window,
        "share_per_poll": share,
        "bound_seconds": round(bound, 1),
        "skipped_slots": facts["skipped"],
        "first_send_after_first_slot_s": round(first_send - facts["first_slot"], 3),
        "per_poll": per_poll,
        "window_series": series,
    }
    return figures, context


def charts(document: dict[str, Any]) -> list[Path]:
    """Requests per poll with the share line, requests in the window with the limit, and reading ages."""
    context = document["context"]
    per_poll = context["per_poll"]
    minutes = [p["minute"] for p in per_poll]
    limit, window = context["budget_requests"], context["budget_window_seconds"]

    figure, axes = new_chart(
        f"Requests per poll: {context['live_sessions']} live sessions, {limit:,} per {window:g} s",
        "minutes since the first poll",
        "requests",
    )
    useful = [p["useful"] for p in per_poll]
    other = [p["requests"] - p["useful"] for p in per_poll]
    axes.bar(minutes, useful, width=0.6, color="tab:green", label="useful reads")
    axes.bar(minutes, other, width=0.6, bottom=useful, color="tab:red", label="retries, errors, 429s")
    axes.plot(minutes, [p["allowance"] for p in per_poll], "k_", markersize=18, label="allowance")
    axes.axhline(
        context["share_per_poll"],
        color="tab:blue",
        linestyle="--",
        label=f"budget share of a poll ({context['share_per_poll']})",
    )
    axes.set_ylim(0, max(context["share_per_poll"], *(p["requests"] for p in per_poll)) * 1.2)
    axes.legend(fontsize=8, loc="lower right")
    paths = [save(figure, "budget_use_requests")]

    figure, axes = new_chart(f"Requests in the last {window:g} s", "seconds since the first send", "requests")
    series = context["window_series"]
    axes.plot(
        [t for t, _ in series], [c for _, c in series], color="tab:blue", label="requests in the window"
    )
    axes.axhline(limit, color="red", alpha=0.6, label=f"budget: {limit:,} per {window:g} s")
    axes.legend(fontsize=8, loc="lower right")
    paths.append(save(figure, "budget_use_window"))

    figure, axes = new_chart(
        "Age of the latest reading of live sessions at each poll's start",
        "minutes since the first poll",
        "seconds",
    )
    axes.plot(minutes, [p["max_age_at_start_s"] for p in per_poll], "o-", color="black", label="oldest")
    axes.plot(minutes, [p["median_age_at_start_s"] for p in per_poll], ".--", color="gray", label="median")
    oldest = next(f for f in document["figures"] if f["key"] == "budget_use.oldest_reading")
    axes.axhline(
        oldest["median"],
        color="black",
        linestyle=":",
        label=f"oldest at any moment ({oldest['median']:.0f} s)",
    )
    axes.axhline(
        context["bound_seconds"], color="red", alpha=0.6, label=f"bound ({context['bound_seconds']:.0f} s)"
    )
    axes.legend(fontsize=8, loc="lower right")
    paths.append(save(figure, "budget_use_oldest"))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_POLLS} polls instead of {POLLS}")
    args = parser.parse_args()
    figures, context = run(args.quick)
    print("\n".join(table_lines(figures)))
    for p in context["per_poll"]:
        print(p)


if __name__ == "__main__":
    main()
