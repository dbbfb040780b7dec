"""The body-shape readers, on the recorded bodies of tests/fixtures/api and on probes of odd shapes."""

from collections.abc import Callable
from typing import Any

import pytest

from streamledger.transforms.shapes import (
    Paging,
    active_session_shape_problem,
    error_detail,
    is_not_found,
    list_items,
    list_shape_problem,
    session_items,
    session_items_shape_problem,
)
from tests.helpers import fixture


def test_list_reads_the_array_form_with_top_level_paging() -> None:
    first, last = fixture("livestreams.page1.json"), fixture("livestreams.page2.json")
    items, paging = list_items(first)
    assert items == first["data"]
    assert len(items) == 2
    assert paging == Paging(3, 1, 2)
    assert not paging.is_last_page()
    items, paging = list_items(last)
    assert [item["id"] for item in items] == ["61e03cb4-d4da-42ad-9169-f53360f4f4b4"]
    assert paging == Paging(3, 3, 3)
    assert paging.is_last_page()


def test_list_reads_the_object_form_with_inner_paging() -> None:
    body = {
        "data": {"livestreams": [{"id": "a"}, {"id": "b"}], "paging": {"total_count": "2", "end_offset": 2}}
    }
    items, paging = list_items(body)
    assert [i["id"] for i in items] == ["a", "b"]
    assert paging is not None
    assert paging.is_last_page()


def test_list_reads_the_specs_single_object_form() -> None:
    body = fixture("livestreams.spec_object.json")
    items, paging = list_items(body)
    assert items == [{k: v for k, v in body["data"].items() if k != "paging"}]
    assert items[0]["id"] == "3fd739f4-3c41-456e-bfba-6ebd51e16d2d"
    assert paging == Paging(1, 1, 1)
    del body["data"]["paging"]["start_offset"]
    assert list_items(body)[1] == Paging(1, None, 1)


def test_list_of_an_unexpected_body_is_empty() -> None:
    assert list_items(["x"]) == ([], None)
    assert list_items({"data": None}) == ([], None)


def test_session_list_accepts_session_or_sessions() -> None:
    single = fixture("livestream_sessions.spec_session.json")
    livestream, sessions, paging = session_items(single)
    assert livestream == single["data"]["livestream"]
    assert sessions == [single["data"]["session"]]
    assert paging == Paging(1, 1, 1)  # inside data
    published = fixture("livestream_sessions.json")
    livestream, sessions, paging = session_items(published)
    assert livestream == published["data"]["livestream"]
    assert sessions == published["data"]["sessions"]
    assert paging == Paging(1, 1, 1)  # at the top level
    published["paging"] = {"total_count": 2}
    assert session_items(published)[2] == Paging(2, None, None)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        ("error.403.json", (10000, "Authentication error")),
        (
            "error.400.json",
            (6003, "Invalid request headers (code 6111: Invalid format for Authorization header)"),
        ),
        ("error.429.json", (971, "Please wait and consider throttling your request speed")),
        (
            "active_session.no_session.json",
            (404, "No active session found for meeting_id 6bf2b8be-04dd-4191-b602-1128921a306b"),
        ),
        ("error.400.bad_request.json", (400, 'BAD_REQUEST: "name" is required')),
        ("error.401.unauthorized.json", (None, "Unauthorized")),
    ],
)
def test_error_detail_reads_both_envelopes_and_a_bare_message(name: str, detail: tuple[Any, str]) -> None:
    assert error_detail(fixture(name)) == detail


def test_error_detail_of_a_body_that_is_not_json_is_empty() -> None:
    assert error_detail("<html>") == (None, None)


def test_an_error_chain_without_messages_or_codes_adds_only_what_it_has() -> None:
    chained = {
        "errors": [{"code": 6003, "message": "Invalid request headers", "error_chain": [{"code": 6111}]}]
    }
    assert error_detail(chained) == (6003, "Invalid request headers")
    chained["errors"][0]["error_chain"] = [{"message": "bad header"}, "x", {"code": 1, "message": "more"}]
    assert error_detail(chained) == (6003, "Invalid request headers (bad header; code 1: more)")


def test_not_found_is_recognised_by_code_or_by_message() -> None:
    assert is_not_found(fixture("active_session.no_session.json"))
    assert is_not_found({"success": False, "error": {"code": 404, "message": "x"}})
    assert is_not_found({"success": False, "error": {"message": "Livestream session not found"}})
    assert not is_not_found(fixture("error.403.json"))
    assert not is_not_found(fixture("error.404.json"))  # a 7003 "No route for the URI" is not "no session"


@pytest.mark.parametrize(
    ("check", "name"),
    [
        (list_shape_problem, "livestreams.page1.json"),
        (list_shape_problem, "livestreams.spec_object.json"),
        (list_shape_problem, "livestreams.status_offline.json"),
        (list_shape_problem, "apps.json"),
        (session_items_shape_problem, "livestream_sessions.json"),
        (session_items_shape_problem, "livestream_sessions.spec_session.json"),
        (session_items_shape_problem, "livestream_sessions.no_sessions.json"),
        (active_session_shape_problem, "active_session.live.json"),
        (active_session_shape_problem, "active_session.no_session.data_null.json"),
        (active_session_shape_problem, "active_session.no_session.data_absent.json"),
        (active_session_shape_problem, "active_session.no_session.session_null.json"),
        (active_session_shape_problem, "active_session.no_session.session_absent.json"),
    ],
)
def test_every_recorded_shape_is_a_known_form(check: Callable[[Any], str | None], name: str) -> None:
    assert check(fixture(name)) is None


def test_shape_problems_name_what_data_is_and_accept_every_documented_form() -> None:
    assert list_shape_problem({"data": []}) is None
    assert list_shape_problem({"data": {"livestreams": [], "paging": {}}}) is None
    assert list_shape_problem({"data": {"id": "a", "paging": {}}}) is None  # the spec's literal form
    assert list_shape_problem({"success": True}) == "unexpected shape: data is missing"
    assert list_shape_problem({"data": 3}) == "unexpected shape: data is a number"
    assert session_items_shape_problem({"data": {"livestream": {}, "session": None}}) is None
    assert session_items_shape_problem({"data": {}}) is None
    assert session_items_shape_problem({"data": None}) == "unexpected shape: data is null"
    assert session_items_shape_problem({"data": {"session": True}}) == (
        "unexpected shape: data.session is a boolean"
    )
    nothing_active: list[dict[str, Any]] = [
        {"success": True},
        {"data": None},
        {"data": {"livestream": {}}},
        {"data": {"session": None}},
    ]
    assert [active_session_shape_problem(body) for body in nothing_active] == [None] * 4
    assert active_session_shape_problem({"data": []}) == "unexpected shape: data is a list"
    assert active_session_shape_problem({"data": {"session": "s1"}}) == (
        "unexpected shape: data.session is a string"
    )
