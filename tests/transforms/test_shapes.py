from typing import Any

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


def test_list_reads_the_array_form_with_top_level_paging() -> None:
    items, paging = list_items(
        {"data": [{"id": "a"}], "paging": {"total_count": 3, "start_offset": 1, "end_offset": 1}}
    )
    assert items == [{"id": "a"}]
    assert paging == Paging(3, 1, 1)
    assert not paging.is_last_page()


def test_list_reads_the_object_form_with_inner_paging() -> None:
    body = {
        "data": {"livestreams": [{"id": "a"}, {"id": "b"}], "paging": {"total_count": "2", "end_offset": 2}}
    }
    items, paging = list_items(body)
    assert [i["id"] for i in items] == ["a", "b"]
    assert paging is not None
    assert paging.is_last_page()


def test_list_reads_the_specs_single_object_form() -> None:
    items, paging = list_items(
        {"data": {"id": "a", "status": "LIVE", "paging": {"total_count": 1, "end_offset": 1}}}
    )
    assert items == [{"id": "a", "status": "LIVE"}]
    assert paging == Paging(1, None, 1)


def test_list_of_an_unexpected_body_is_empty() -> None:
    assert list_items(["x"]) == ([], None)
    assert list_items({"data": None}) == ([], None)


def test_session_list_accepts_session_or_sessions() -> None:
    assert session_items({"data": {"livestream": {"id": "l"}, "session": {"id": "s"}}})[1] == [{"id": "s"}]
    assert session_items({"data": {"sessions": [{"id": "s1"}, {"id": "s2"}]}, "paging": {"total_count": 2}})[
        2
    ] == (Paging(2, None, None))


def test_error_detail_reads_both_envelopes() -> None:
    assert error_detail(
        {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
    ) == (
        10000,
        "Authentication error",
    )
    assert error_detail({"success": False, "error": {"code": 404, "message": "No active session"}}) == (
        404,
        "No active session",
    )
    assert error_detail("<html>") == (None, None)


def test_not_found_is_recognised_by_code_or_by_message() -> None:
    assert is_not_found({"success": False, "error": {"code": 404, "message": "x"}})
    assert is_not_found({"success": False, "error": {"message": "Livestream session not found"}})
    assert not is_not_found(
        {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
    )


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
