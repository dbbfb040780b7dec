"""Finalization under the API's lifecycle: the final figures land about a minute after the stop, and until
then a stopped session repeats the figures of its stop; polls come every 20 to 30 s."""

from __future__ import annotations

from pathlib import Path

from simulator import running_simulator, verify
from streamledger import warehouse
from streamledger.settings import DEFAULT_SETTLE_SECONDS
from tests.helpers import run_poll, settings_for, simulator_config

POLLS = 44
# The API's timings (simulator defaults), not the fast tests' ones: the placeholder lasts 40-50 s, the
# final figures land 55-65 s after the stop; while live the figures trail the truth by 10 s, so the
# figures of the stop differ from the final ones.
API_TIMINGS = {
    "placeholder_seconds": (40.0, 50.0),
    "final_after_seconds": (55.0, 65.0),
    "report_lag_seconds": 10.0,
    "live_seconds": (20.0, 150.0),
    "gap_seconds": (5.0, 60.0),
    "livestreams": 10,
}


def polled(tmp_path: Path, settle_seconds: float) -> tuple[verify.Comparison, int, int]:
    """POLLS polls 20 or 30 simulated seconds apart; the comparison, sessions final, sessions long settled."""
    with running_simulator(simulator_config(**API_TIMINGS)) as sim:
        settings = settings_for(sim, tmp_path, settle_seconds=settle_seconds)
        for number in range(POLLS):
            sim.advance(20.0 if number % 2 else 30.0)
            assert run_poll(settings).outcome == "ok"
        end = sim.now()
        truth = verify.fetch_truth(sim.root_url)
        # Settled in the truth for longer than the settle time plus two poll gaps: must be final by now.
        due = {
            sid
            for sid, s in truth.items()
            if s["settled"] and verify.seconds_before(s["stopped_time"], sim, end) > settle_seconds + 65.0
        }
    con = warehouse.connect(settings.database, read_only=True)
    try:
        final = {sid for (sid,) in con.execute("select session_id from sessions where is_final").fetchall()}
    finally:
        con.close()
    assert due
    assert due <= final
    return verify.compare(settings.database, truth), len(final), len(due)


def test_agreeing_reads_before_the_final_figures_land_do_not_finalize_a_session(tmp_path: Path) -> None:
    comparison, final, due = polled(tmp_path, DEFAULT_SETTLE_SECONDS)
    assert comparison.mismatches == []
    assert final >= due >= 10


def test_without_the_settle_time_two_early_reads_finalize_figures_that_change_later(tmp_path: Path) -> None:
    """The old rule (two agreeing reads after the stop, no settle time) finalizes the stop's figures."""
    comparison, _, _ = polled(tmp_path, 0.001)
    wrong = [line for line in comparison.mismatches if "_seconds" in line]
    assert wrong, "the old rule should have finalized some session with the figures of its stop"
