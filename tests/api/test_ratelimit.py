from bisect import bisect_right

from streamledger.ratelimit import WINDOW_MARGIN_SECONDS, RatelimitHeader, RequestBudget, parse_ratelimit


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
