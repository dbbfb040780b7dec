"""The client's retry, budget, error and paging rules, with scripted answers (httpx.MockTransport).

The answers are recorded bodies (tests/fixtures/api) wherever one stands for the API's answer; the replay of
every recorded body over real HTTP is tests/api/test_replay.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from streamledger.client import RealtimeKitClient
from streamledger.errors import ApiError
from streamledger.ratelimit import RequestBudget
from streamledger.settings import Secret, Settings
from streamledger.transforms.redact import fingerprint
from tests.helpers import fixture, fixture_bytes, fixture_redacted

TOKEN = "tok-secret-42"
SETTINGS = Settings(
    api_token=Secret(TOKEN),
    account_id="acc",
    app_ids=("app",),
    base_url="http://api.test/client/v4",
    database=Path("unused.duckdb"),
    per_page=2,
    max_pages=5,
    max_attempts=4,
    max_retry_wait_seconds=60,
)
# The published active session as served, and as the client returns it (its stream key fingerprinted).
LIVE = fixture_bytes("active_session.live.json")
ACTIVE = fixture_redacted("active_session.live.json")
RATE_LIMITED = fixture_bytes("error.429.json")


class Script:
    """Answers requests in order from a list of (status, body, headers) and records what was asked."""

    def __init__(self, *answers: tuple[int, Any, dict[str, str]] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return httpx.Response(status, content=content, headers=headers)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def run(
    script: Script, call: Callable[[RealtimeKitClient], Coroutine[Any, Any, Any]], **changes: Any
) -> tuple[Any, RealtimeKitClient]:
    async def main() -> tuple[Any, RealtimeKitClient]:
        budget = RequestBudget(1000, 300)
        settings = SETTINGS.with_overrides(**changes)
        transport = httpx.MockTransport(script.handler)
        async with RealtimeKitClient(
            settings, budget=budget, transport=transport, sleep=script.sleep
        ) as client:
            try:
                return await call(client), client
            except ApiError as exc:
                return exc, client

    return asyncio.run(main())


def ok(body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    return 200, body, headers or {}


def test_requests_carry_the_bearer_token_and_the_documented_path() -> None:
    script = Script(ok(LIVE))
    body, _ = run(script, lambda c: c.active_session("app", "ls1"))
    assert body == ACTIVE
    request = script.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert (
        request.url.path
        == "/client/v4/accounts/acc/realtime/kit/app/livestreams/ls1/active-livestream-session"
    )


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    script = Script((status, {"success": False}, {}), ok(LIVE))
    body, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert body == ACTIVE
    assert len(script.requests) == 2
    assert client.retries == 1
    assert [r["outcome"] for r in client.responses] == ["retry", "data"]


def test_connection_errors_and_timeouts_are_retried_and_recorded() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok(LIVE))
    body, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert body == ACTIVE
    assert client.transport_errors == 2
    assert [(r["http_status"], r["outcome"]) for r in client.responses] == [
        (None, "retry"),
        (None, "retry"),
        (200, "data"),
    ]


def test_a_body_that_fails_to_decode_is_retried_not_a_traceback() -> None:
    script = Script(httpx.DecodingError("incorrect header check"), ok(LIVE))
    body, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert body == ACTIVE
    assert client.responses[0]["error"] == (
        "active_session on app app, livestream ls1: no response: DecodingError: incorrect header check"
    )


def test_backoff_is_exponential_capped_and_jittered() -> None:
    script = Script(*[(503, b"", {})] * 3, ok(LIVE))
    run(script, lambda c: c.active_session("app", "ls1"))
    assert len(script.sleeps) == 3
    for n, wait in enumerate(script.sleeps):
        full = min(0.5 * 2**n, 8.0)
        assert 0.75 * full <= wait <= full


def test_retry_after_is_honoured_and_pauses_the_whole_budget() -> None:
    script = Script(
        (429, RATE_LIMITED, {"Retry-After": "3"}),
        ok(LIVE),
    )
    _, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert len(script.sleeps) == 1
    assert script.sleeps[0] == pytest.approx(3.0, abs=0.05)
    assert client.rate_limited == 1


def test_a_retry_after_beyond_the_allowed_wait_fails_at_once_with_a_clear_message() -> None:
    script = Script((429, RATE_LIMITED, {"Retry-After": "300"}))
    error, _ = run(script, lambda c: c.active_session("app", "ls1"))
    assert isinstance(error, ApiError)
    assert (
        "HTTP 429, code 971: Please wait and consider throttling your request speed (asked to wait 300 s"
        in str(error)
    )
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, "error.400.bad_request.json", "HTTP 400, code 400: BAD_REQUEST"),
        (
            400,
            "error.400.json",
            "code 6003: Invalid request headers (code 6111: Invalid format for Authorization",
        ),
        (401, "error.401.json", "HTTP 401, code 10001"),
        (401, "error.401.unauthorized.json", "HTTP 401: Unauthorized"),
        (403, "error.403.json", "HTTP 403, code 10000: Authentication error"),
    ],
)
def test_client_errors_are_not_retried_and_name_endpoint_livestream_and_api_code(
    status: int, body: str, expected: str
) -> None:
    script = Script((status, fixture_bytes(body), {}))
    error, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert isinstance(error, ApiError)
    assert str(error).startswith("active_session on app app, livestream ls1: ")
    assert expected in str(error)
    assert "\n" not in str(error)
    assert TOKEN not in str(error)
    assert len(script.requests) == 1
    assert client.responses[0]["outcome"] == "error"


def test_retries_are_exhausted_with_the_last_failure_named() -> None:
    script = Script(*[(502, b"<html>Bad Gateway</html>", {})] * 4)
    error, client = run(script, lambda c: c.session_by_id("app", "s1"))
    assert isinstance(error, ApiError)
    assert (
        str(error) == "session_by_id on app app, session s1: HTTP 502: Bad Gateway: <html>Bad Gateway</html>"
    )
    assert len(script.requests) == 4
    assert [r["outcome"] for r in client.responses] == ["retry", "retry", "retry", "error"]


def test_a_malformed_success_body_is_retried() -> None:
    script = Script(ok(b'{"success": true, "data": {"liv'), ok(LIVE))
    body, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert body == ACTIVE
    assert client.responses[0]["outcome"] == "retry"
    assert "malformed JSON body" in client.responses[0]["error"]


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (404, "active_session.no_session.json"),
        (200, "active_session.no_session.json"),
        (200, "active_session.no_session.data_null.json"),
        (200, "active_session.no_session.data_absent.json"),
        (200, "active_session.no_session.session_null.json"),
        (200, "active_session.no_session.session_absent.json"),
    ],
)
def test_every_no_active_session_form_is_a_normal_none(status: int, name: str) -> None:
    script = Script((status, fixture_bytes(name), {}))
    body, client = run(script, lambda c: c.active_session("app", "ls1"))
    assert body is None
    assert client.responses[0]["outcome"] == "none"
    assert len(script.requests) == 1


def test_a_failure_envelope_on_200_that_is_not_not_found_is_an_error() -> None:
    script = Script(ok(fixture_bytes("error.404.json")))
    error, _ = run(script, lambda c: c.active_session("app", "ls1"))
    assert isinstance(error, ApiError)
    assert "HTTP 200, code 7003: No route for the URI" in str(error)


# A recorded livestream, given other ids to build pages for the paging rules (no recorded listing has 5).
LIVESTREAM = fixture("livestreams.page1.json")["data"][1]


def page(ids: list[str], total: int, start: int, shape: str = "array") -> tuple[int, Any, dict[str, str]]:
    items = [LIVESTREAM | {"id": i} for i in ids]
    paging = {"total_count": total, "start_offset": start, "end_offset": start + len(ids) - 1}
    if shape == "array":
        return ok({"success": True, "data": items, "paging": paging})
    return ok({"success": True, "data": {"livestreams": items, "paging": paging}})


def test_listing_follows_paging_in_both_shapes_until_the_total() -> None:
    script = Script(page(["a", "b"], 5, 1), page(["c", "d"], 5, 3, "object"), page(["e"], 5, 5))
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert [i["id"] for i in listing.items] == ["a", "b", "c", "d", "e"]
    assert listing.complete
    assert [dict(r.url.params) for r in script.requests] == [
        {"page_no": str(n), "per_page": "2"} for n in (1, 2, 3)
    ]


def test_a_listing_by_status_sends_it_on_every_page_beside_the_paging() -> None:
    script = Script(page(["a", "b"], 3, 1), page(["c"], 3, 3))
    listing, _ = run(script, lambda c: c.list_livestreams("app", "LIVE"))
    assert [i["id"] for i in listing.items] == ["a", "b", "c"]
    assert [dict(r.url.params) for r in script.requests] == [
        {"status": "LIVE", "page_no": str(n), "per_page": "2"} for n in (1, 2)
    ]


def test_a_path_under_an_app_is_read_with_its_parameters_and_recorded_under_its_endpoint_name() -> None:
    script = Script(ok({"success": True, "data": {"count": 4}}), ok({"success": True, "data": {}}))

    async def both(client: RealtimeKitClient) -> list[Any]:
        path = "/analytics/livestreams/overall"
        return [
            await client.read_app_path("analytics_overall", "a/b", path, {"start_time": 1, "end_time": 2}),
            await client.read_app_path("analytics_overall", "a/b", path),
        ]

    bodies, client = run(script, both)
    assert bodies == [{"success": True, "data": {"count": 4}}, {"success": True, "data": {}}]
    assert [r.url.raw_path.decode().partition("?")[0] for r in script.requests] == [
        "/client/v4/accounts/acc/realtime/kit/a%2Fb/analytics/livestreams/overall"
    ] * 2
    assert [dict(r.url.params) for r in script.requests] == [{"start_time": "1", "end_time": "2"}, {}]
    assert [r["endpoint"] for r in client.responses] == ["analytics_overall"] * 2


def test_listing_stops_on_an_empty_page() -> None:
    script = Script(
        ok({"success": True, "data": [{"id": "a"}, {"id": "b"}]}), ok({"success": True, "data": []})
    )
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert [i["id"] for i in listing.items] == ["a", "b"]
    assert listing.complete
    assert len(script.requests) == 2


def test_listing_stops_on_a_short_page_when_there_is_no_paging() -> None:
    script = Script(ok({"success": True, "data": [{"id": "a"}]}))
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert listing.complete
    assert len(script.requests) == 1


def test_a_server_page_smaller_than_asked_does_not_truncate_when_paging_says_more() -> None:
    script = Script(page(["a"], 2, 1), page(["b"], 2, 2))
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert [i["id"] for i in listing.items] == ["a", "b"]


def test_listing_that_never_ends_stops_at_the_page_cap_and_says_so() -> None:
    script = Script(*[page(["x", "y"], 1000, 1)] * 5)
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert not listing.complete
    assert listing.problem == "page cap 5 reached"
    assert len(script.requests) == 5


def test_listing_that_disagrees_with_the_total_is_flagged() -> None:
    script = Script(page(["a", "b"], 3, 1), ok({"success": True, "data": [], "paging": {"total_count": 3}}))
    listing, _ = run(script, lambda c: c.list_livestreams("app"))
    assert not listing.complete
    assert listing.problem == "read 2 livestreams, paging says 3"


def test_recorded_responses_are_redacted_and_never_hold_the_token() -> None:
    script = Script(ok(LIVE, {"Ratelimit": '"default";r=900;t=120'}))
    _, client = run(script, lambda c: c.active_session("app", "ls1"))
    (row,) = client.responses
    assert b"sk_fixture_b60ef3da" in LIVE
    assert "sk_fixture_b60ef3da" not in row["body"]
    assert TOKEN not in str(client.responses)
    assert row["ratelimit"] == '"default";r=900;t=120'
    assert row["request_path"].endswith("/livestreams/ls1/active-livestream-session")


def test_a_backoff_beyond_the_allowed_wait_is_called_a_backoff_not_a_wait_the_server_asked_for() -> None:
    script = Script((503, {"success": False, "errors": [{"code": 1, "message": "busy"}]}, {}))
    error, _ = run(script, lambda c: c.active_session("app", "ls1"), max_retry_wait_seconds=0.1)
    assert isinstance(error, ApiError)
    assert "HTTP 503, code 1: busy (backoff of 0." in str(error)
    assert "s, more than STREAMLEDGER_MAX_RETRY_WAIT_SECONDS=0.1)" in str(error)
    assert "asked" not in str(error)
    assert len(script.requests) == 1


def test_a_timeout_names_the_limit_it_ran_into() -> None:
    script = Script(httpx.ReadTimeout(""), httpx.ConnectTimeout("timed out"))
    error, client = run(script, lambda c: c.session_by_id("app", "s1"), max_attempts=2, timeout_seconds=7)
    assert [r["error"].split(": ", 1)[1] for r in client.responses] == [
        "no response: ReadTimeout: timed out after 7 s",
        "no response: ConnectTimeout: timed out after 5 s",
    ]
    assert str(error).endswith("no response: ConnectTimeout: timed out after 5 s")


def test_after_a_refused_token_no_other_call_of_the_poll_is_sent() -> None:
    script = Script((403, fixture_bytes("error.403.json"), {}))

    async def three_reads(client: RealtimeKitClient) -> list[Any]:
        first = await asyncio.gather(client.active_session("app", "ls1"), return_exceptions=True)
        rest = await asyncio.gather(
            client.active_session("app", "ls2"), client.session_by_id("app", "s1"), return_exceptions=True
        )
        return [*first, *rest]

    errors, client = run(script, three_reads)
    assert len(script.requests) == 1
    assert (client.requests, len(client.responses)) == (1, 1)  # nothing unsent is counted or recorded
    assert [type(e).__name__ for e in errors] == ["ApiError", "NotSent", "NotSent"]
    assert errors[0].is_auth_error
    assert str(errors[2]) == (
        "session_by_id on app app, session s1: no response: not sent: "
        "the API refused the token earlier in this poll (HTTP 403)"
    )
    assert not errors[2].is_auth_error  # the 403 itself is the poll's one fatal line


def test_a_block_beyond_the_allowed_wait_fails_every_call_at_once_and_sends_nothing() -> None:
    script = Script(ok(LIVE))
    budget = RequestBudget(1000, 300)
    budget.block_for(90)

    async def main() -> tuple[list[Any], RealtimeKitClient]:
        transport = httpx.MockTransport(script.handler)
        async with RealtimeKitClient(SETTINGS, budget=budget, transport=transport, sleep=script.sleep) as c:
            calls = [c.active_session("app", "ls1"), c.list_livestreams("app")]
            return await asyncio.gather(*calls, return_exceptions=True), c

    errors, client = asyncio.run(main())
    assert (script.requests, script.sleeps, client.requests) == ([], [], 0)
    assert [type(e).__name__ for e in errors] == ["NotSent", "NotSent"]
    assert str(errors[0]) == (
        "active_session on app app, livestream ls1: no response: not sent: rate-limited: the API blocks "
        "requests for 90 s more (more than STREAMLEDGER_MAX_RETRY_WAIT_SECONDS=60); the next poll resumes"
    )
    assert budget.sent_in_window() == 0  # a call not sent takes no slot of the budget


def test_a_wait_within_the_allowed_wait_is_slept_then_sent() -> None:
    script = Script(ok(LIVE))
    budget = RequestBudget(1000, 300)
    budget.block_for(30)

    async def main() -> Any:
        transport = httpx.MockTransport(script.handler)
        async with RealtimeKitClient(SETTINGS, budget=budget, transport=transport, sleep=script.sleep) as c:
            return await c.active_session("app", "ls1")

    assert asyncio.run(main()) == ACTIVE
    assert script.sleeps == [pytest.approx(30, abs=0.5)]


@pytest.mark.parametrize(
    ("read", "body", "shape"),
    [
        ("active", {"success": True, "data": [ACTIVE["data"]]}, "data is a list"),
        ("active", {"success": True, "data": "{}"}, "data is a string"),
        ("active", {"success": True, "data": {"session": ["s1"]}}, "data.session is a list"),
        ("list", {"success": True}, "data is missing"),
        ("list", {"success": True, "data": None}, "data is null"),
        ("list", {"success": True, "data": "[]"}, "data is a string"),
        ("list", {"success": True, "data": {"paging": {}}}, "data is an object without a list of items"),
        ("details", {"success": True}, "data is missing"),
        ("details", {"success": True, "data": [{"sessions": []}]}, "data is a list"),
        ("details", {"success": True, "data": "x"}, "data is a string"),
        ("details", {"success": True, "data": {"sessions": "s1"}}, "data.sessions is a string"),
    ],
)
def test_an_odd_data_that_would_read_as_nothing_there_is_a_failed_call_naming_the_shape(
    read: str, body: Any, shape: str
) -> None:
    calls: dict[str, Callable[[RealtimeKitClient], Coroutine[Any, Any, Any]]] = {
        "active": lambda c: c.active_session("app", "ls1"),
        "list": lambda c: c.list_livestreams("app"),
        "details": lambda c: c.livestream_sessions("app", "ls1", 1, 2),
    }
    script = Script(ok(body))
    error, client = run(script, calls[read])
    assert isinstance(error, ApiError)
    assert str(error).endswith(f": HTTP 200: unexpected shape: {shape}")
    assert len(script.requests) == 1  # a shape is not a broken transfer: not retried
    assert [r["outcome"] for r in client.responses] == ["error"]


def test_details_of_a_livestream_without_sessions_are_an_empty_answer_not_an_error() -> None:
    recorded = "livestream_sessions.no_sessions.json"
    # The schema's single-session form, with no session (no recorded body has it).
    single = fixture_redacted(recorded) | {
        "data": {"livestream": ACTIVE["data"]["livestream"], "session": None}
    }
    for served, expected in ((fixture_bytes(recorded), fixture_redacted(recorded)), (single, single)):
        script = Script(ok(served))
        body, _ = run(script, lambda c: c.livestream_sessions("app", "ls1", 1, 2))
        assert body == expected


def test_a_retry_without_a_free_slot_fails_alone_and_the_poll_goes_on() -> None:
    script = Script((500, {"success": False}, {}), ok(LIVE))
    budget = RequestBudget(1, 300)  # one send in the window: the retry has no slot for 300 s

    async def main() -> tuple[Any, RealtimeKitClient]:
        transport = httpx.MockTransport(script.handler)
        async with RealtimeKitClient(
            SETTINGS, budget=budget, transport=transport, sleep=script.sleep
        ) as client:
            try:
                return await client.active_session("app", "ls1"), client
            except ApiError as exc:
                return exc, client

    result, client = asyncio.run(main())
    assert isinstance(result, ApiError)
    assert "retry not sent: the request budget has no free slot for 301 s" in str(result)
    assert client.halted is None  # later calls of the poll are still sent
    assert client.requests == 1
    assert len(script.requests) == 1


KEY = "sk_ap-south-1_x3lKBdJa8UDN_3q6PPLMJnqnbnhyrkXrOG504MUsxnZ"


def test_a_key_learnt_late_in_a_poll_leaves_the_answers_and_headers_recorded_before() -> None:
    echo = {"Ratelimit": f'"default";r=50;t=30;echo="Bearer {TOKEN}";k="{KEY}"'}
    session = {"success": True, "data": {"id": "s1", "err_message": f"refused: stream key {KEY}"}}
    listing = {"success": True, "data": [{"id": "ls1", "stream_key": KEY}], "paging": None}
    script = Script(ok(session, echo), ok(listing, echo))

    async def calls(client: RealtimeKitClient) -> Any:
        await client.session_by_id("app", "s1")
        return await client.livestreams_page("app", 1)

    _, client = run(script, calls)
    recorded = " ".join(str(value) for response in client.responses for value in response.values())
    assert KEY not in recorded
    assert TOKEN not in recorded
    assert recorded.count("[redacted sha256:") == 4  # the error message, the key field, the two headers
    assert client.redacted(f"{KEY} and {TOKEN}") == f"[redacted {fingerprint(KEY)}] and [redacted]"


def test_a_key_of_an_earlier_poll_is_recognized_by_its_fingerprint() -> None:
    session = {"success": True, "data": {"id": "s1", "err_message": f"refused: stream key {KEY}"}}

    async def main() -> RealtimeKitClient:
        transport = httpx.MockTransport(Script(ok(session)).handler)
        async with RealtimeKitClient(
            SETTINGS, transport=transport, stream_key_fingerprints=[fingerprint(KEY)]
        ) as client:
            await client.session_by_id("app", "s1")
        return client

    (response,) = asyncio.run(main()).responses
    assert (
        orjson.loads(response["body"])["data"]["err_message"]
        == f"refused: stream key [redacted {fingerprint(KEY)}]"
    )


def test_a_user_and_password_before_the_host_are_never_recorded() -> None:
    script = Script(ok(LIVE))
    _, client = run(
        script, lambda c: c.active_session("app", "ls1"), base_url="http://me:hunter2@api.test/client/v4"
    )
    (response,) = client.responses
    assert response["request_path"].startswith("http://api.test/client/v4/accounts/acc/")


def test_a_token_or_key_an_error_answer_echoes_is_in_neither_the_error_nor_the_record() -> None:
    refused = {"success": False, "errors": [{"code": 10000, "message": f"bad token {TOKEN} for key {KEY}"}]}
    script = Script((403, refused, {}))

    async def calls(client: RealtimeKitClient) -> Any:
        client._redactor.learn(KEY)  # as if a listing earlier in the poll had shown it
        return await client.active_session("app", "ls1")

    error, client = run(script, calls)
    assert isinstance(error, ApiError)
    assert str(error).endswith(
        f"HTTP 403, code 10000: bad token [redacted] for key [redacted {fingerprint(KEY)}]"
    )
    (response,) = client.responses
    assert TOKEN not in f"{response['error']}{response['body']}"
    assert KEY not in f"{response['error']}{response['body']}"
