"""The poll planner spends the whole budget window: its share each poll, a few slots kept free for retries."""

from __future__ import annotations

from bisect import bisect_right

import httpx

from simulator import RunningSimulator, running_simulator
from streamledger import fetch, plan
from streamledger.plan import poll_allowance
from streamledger.poll import EMPTY_PLAN
from streamledger.ratelimit import WINDOW_MARGIN_SECONDS, RatelimitHeader, RequestBudget
from streamledger.settings import Secret, Settings
from tests.helpers import run_poll, simulator_config

SETTINGS = Settings(api_token=Secret("t"), account_id="acc", app_ids=("app",))  # 1,200 per 300 s, 60 s polls
WINDOW = 300 + WINDOW_MARGIN_SECONDS


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def max_in_any_window(sends: list[float], window: float) -> int:
    sends = sorted(sends)
    return max(i + 1 - bisect_right(sends, t - window) for i, t in enumerate(sends))


def spend(budget: RequestBudget, clock: FakeClock, count: int, sends: list[float]) -> list[float]:
    """Reserve `count` sends now, as a poll's client does; return the wait of each."""
    waits = [budget.reserve() for _ in range(count)]
    sends += [clock.now + wait for wait in waits]
    return waits


def test_polls_a_minute_apart_each_plan_their_whole_share_and_keep_the_retry_reserve_once() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    start, sends, allowances, longest_wait = clock.now, list[float](), list[int](), 0.0
    for k in range(10):
        clock.now = start + 60 * k
        allowances.append(poll_allowance(SETTINGS, budget))
        longest_wait = max(longest_wait, *spend(budget, clock, allowances[-1], sends))
    # 240 a poll (1,200 x 60 / 300); every fifth poll fills the window but for the 24 slots kept for retries.
    assert allowances == [240, 240, 240, 240, 216] * 2
    assert sum(allowances) == 2 * (1200 - 24)
    # The sixth poll's first 24 sends use the free slots at once; the server's 300 s window never holds more
    # than 1,176, our own window (1 s longer) exactly its limit.
    assert max_in_any_window(sends, 300) == 1200 - 24
    assert max_in_any_window(sends, WINDOW) == 1200
    # The sixth poll starts 300 s after the first: its sends wait the 1 s for the first poll's to leave.
    assert longest_wait == WINDOW - 300


def test_slots_that_free_up_within_a_tenth_of_the_interval_count_as_free() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    budget.seed([clock.now - WINDOW + 5.9 - n / 1e6 for n in range(1000)])  # they leave the window in 5.9 s
    assert budget.available() == 200
    assert budget.available(within=6.0) == 1200
    assert poll_allowance(SETTINGS, budget) == 240
    clock.now -= 0.2  # now they leave in 6.1 s: more than a tenth of the 60 s interval
    assert poll_allowance(SETTINGS, budget) == 200 - 24


def test_retries_beyond_the_plan_are_planned_out_of_the_next_poll() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    start, sends = clock.now, list[float]()
    for k in range(5):
        clock.now = start + 60 * k
        spend(budget, clock, poll_allowance(SETTINGS, budget), sends)
    spend(budget, clock, 10, sends)  # the fifth poll's 10 retries take 10 of the 24 free slots at once
    assert sends[-1] == clock.now
    clock.now = start + 300
    assert poll_allowance(SETTINGS, budget) == 240 - 10


def test_a_short_interval_plans_its_share_less_the_reserve_when_the_window_is_nearly_full() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    demo = SETTINGS.with_overrides(poll_interval_seconds=5.0)  # 20 a poll, 2 kept for retries
    budget.seed([clock.now - 10 - n / 1e6 for n in range(1180)])
    assert poll_allowance(demo, budget) == 20 - 2
    budget.reserve()
    budget.reserve()
    budget.reserve()
    assert poll_allowance(demo, budget) == 20 - 3 - 2
    # A share below one request (10 per 300 s every 5 s) still allows one, as long as the window has room.
    assert poll_allowance(demo.with_overrides(budget_requests=10), RequestBudget(10, 300, clock=clock)) == 1


def test_a_server_that_counts_what_the_window_counts_does_not_slow_it_down() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    spend(budget, clock, 1190, [])
    budget.observe(RatelimitHeader(remaining=12, reset_seconds=60))  # our 10 left, and 2 of ours in flight
    assert budget.reserve() == 0
    assert budget.reserve() == 0
    spend(budget, clock, 8, [])
    budget.observe(RatelimitHeader(remaining=0, reset_seconds=60))  # spent, as the window knows
    assert budget.blocked_seconds() == 0
    assert budget.reserve() == WINDOW  # the window itself waits for its oldest send to leave


def test_a_server_that_counts_sends_the_window_does_not_still_slows_it_down() -> None:
    clock = FakeClock()
    budget = RequestBudget(1200, 300, clock=clock)
    spend(budget, clock, 1000, [])
    budget.observe(RatelimitHeader(remaining=20, reset_seconds=100))  # another user of the token spent 180
    first = budget.reserve()
    assert budget.reserve() - first == 5.0
    budget.observe(RatelimitHeader(remaining=0, reset_seconds=40))
    assert budget.blocked_seconds() == 40


def test_a_poll_spends_its_share_against_a_simulator_with_the_same_budget_and_is_never_refused() -> None:
    config = simulator_config(
        livestreams=30,
        budget_requests=120,
        gap_seconds=(0.0, 2.0),
        invoked_seconds=(0.5, 1.0),
        live_seconds=(3600.0, 7200.0),
        errored_share=0.0,
        odd_status_share=0.0,
    )
    with running_simulator(config) as sim:
        sim.advance(60)  # every livestream live
        # 120 per 300 s at one poll a minute: 24 a poll, 3 of them kept free in the window for retries.
        settings = SETTINGS.with_overrides(
            api_token=Secret(config.token),
            account_id=config.account_id,
            app_ids=config.app_ids,
            base_url=sim.base_url,
            budget_requests=120,
            max_retry_wait_seconds=5.0,
        )
        # Six polls within a second of real time: the window fills, as five polls a minute apart fill it.
        fetched = [fetch.fetch_poll(settings, EMPTY_PLAN) for _ in range(6)]
        stats = httpx.get(f"{sim.root_url}/_simulator/stats").json()
    assert [f.allowance for f in fetched] == [24, 24, 24, 24, 21, 0]
    # The LIVE and INVOKED listings come first, then the full listing's page, then the live reads; all
    # from the allowance, so a poll with none left sends nothing and says why.
    assert [f.plan["planned_list"] for f in fetched] == [1, 1, 1, 1, 1, 0]
    assert [f.plan["planned_live"] for f in fetched] == [21, 21, 21, 21, 18, 0]
    assert [f.plan["deferred_live"] for f in fetched] == [9, 9, 9, 9, 12, 0]
    assert [f.plan["deferred_list"] for f in fetched] == [0, 0, 0, 0, 0, 2]  # LIVE and INVOKED
    assert [f.requests for f in fetched] == [24, 24, 24, 24, 21, 0]
    assert all(f.outcome == "ok" and f.retries == 0 for f in fetched[:5])
    cut = (
        "list_livestreams: cut short by the poll's allowance of 0 requests on 1 of 1 apps (2 listing pages "
        "deferred); their live livestreams wait for a later poll"
    )
    assert fetched[5].errors == [cut]
    assert (fetched[5].outcome, fetched[5].fatal) == ("failed", f"no livestream listing could be read: {cut}")
    assert stats["rate_limited"] == 0
    assert stats["max_in_window"] == 117  # the sixth poll sent nothing


def test_a_poll_counts_the_recent_requests_of_its_own_budget_only(
    sim: RunningSimulator, settings: Settings
) -> None:
    sim.advance(60)
    first = run_poll(settings.with_overrides(budget_name="user-1"))
    assert first.budget == "user-1"
    same = plan.read_plan(settings.with_overrides(budget_name="user-1", api_token=Secret("another-token")))
    other = plan.read_plan(settings.with_overrides(budget_name="user-2"))
    assert len(same.recent_sends) == first.requests
    assert other.recent_sends == ()
