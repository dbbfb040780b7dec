from bisect import bisect_right

from streamledger.ratelimit import (
    WINDOW_MARGIN_SECONDS,
    RatelimitHeader,
    RequestBudget,
    parse_ratelimit,
    shared_budget,
)
from streamledger.settings import Secret, Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def max_in_any_window(sends: list[float], window: float) -> int:
    sends = sorted(sends)
    return max(bisect_right(sends, t + window - 1e-9) - i for i, t in enumerate(sends))


def test_budget_never_allows_more_than_the_limit_in_any_window() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=10, window=30, clock=clock)
    sends = []
    for _ in range(55):
        clock.now += 0.3
        sends.append(clock.now + budget.reserve())
    assert max_in_any_window(sends, 30 + WINDOW_MARGIN_SECONDS) == 10
    assert sends[10] - sends[0] >= 30


def test_seeded_sends_from_earlier_processes_count() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=3, window=60, clock=clock)
    budget.seed([clock.now - 10, clock.now - 5, clock.now - 1, clock.now - 500])
    assert budget.sent_in_window() == 3
    assert budget.reserve() == (clock.now - 10 + 60 + WINDOW_MARGIN_SECONDS) - clock.now


def test_only_the_first_seed_counts_so_own_sends_are_not_counted_twice() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=10, window=60, clock=clock)
    budget.seed([clock.now - 5])
    budget.reserve()
    budget.seed([clock.now - 5, clock.now])  # the database now also holds our own send
    assert budget.sent_in_window() == 2


def test_retry_after_blocks_every_send_until_it_passes() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=100, window=60, clock=clock)
    budget.block_for(7)
    assert budget.reserve() == 7
    assert budget.reserve() == 7


def test_nearly_spent_server_budget_spreads_requests_over_the_reset_time() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=1200, window=300, clock=clock)
    budget.observe(RatelimitHeader(remaining=500, reset_seconds=100))
    assert budget.reserve() == 0
    budget.observe(RatelimitHeader(remaining=20, reset_seconds=100))
    first = budget.reserve()
    assert budget.reserve() - first == 5.0
    budget.observe(RatelimitHeader(remaining=0, reset_seconds=40))
    assert budget.reserve() >= 40


def test_ratelimit_header_parsing_takes_the_tightest_item() -> None:
    assert parse_ratelimit('"default";r=50;t=30') == RatelimitHeader(50, 30.0)
    assert parse_ratelimit('"default";r=50;t=30, "burst";r=3;t=1') == RatelimitHeader(3, 1.0)
    assert parse_ratelimit("nonsense") is None
    assert parse_ratelimit(None) is None


def test_the_burst_cap_holds_however_high_the_budget() -> None:
    clock = FakeClock()
    budget = RequestBudget(limit=1_000_000, window=300, clock=clock, burst=(250, 10))
    sends = [clock.now + budget.reserve() for _ in range(1_000)]
    # All at once asked: 250 go now, the next 250 once the first leave the (margined) 11 s burst window.
    assert sends[249] == clock.now
    assert sends[250] == clock.now + 10 + WINDOW_MARGIN_SECONDS
    assert max(sum(1 for s in sends if start <= s < start + 10) for start in sends) == 250
    assert sends[-1] == clock.now + 3 * (10 + WINDOW_MARGIN_SECONDS)


def test_tokens_that_name_one_budget_share_it_and_others_do_not() -> None:
    base = Settings(api_token=Secret("token-a"), budget_name="user-1")
    same_user = base.with_overrides(api_token=Secret("token-b"))
    other_user = base.with_overrides(api_token=Secret("token-c"), budget_name="user-2")
    unnamed = base.with_overrides(budget_name="")

    def budget_of(settings: Settings) -> RequestBudget:
        burst = (settings.burst_requests, settings.burst_window_seconds)
        return shared_budget(settings.base_url, settings.budget, 1200, 300, burst)

    assert budget_of(base) is budget_of(same_user)
    assert budget_of(base) is not budget_of(other_user)
    assert budget_of(unnamed) is not budget_of(base)
    # A token's own budget is named by a hash of it: the name is stored with each poll, the token never.
    assert unnamed.budget.startswith("token ")
    assert "token-a" not in unnamed.budget
    assert unnamed.budget == base.with_overrides(budget_name="", burst_requests=1).budget
