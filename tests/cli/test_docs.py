"""The generated pages of docs/ match the code they are made from."""

from __future__ import annotations

import pytest

from tests.docs_pages import DOCS, PAGES


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_generated_page_is_up_to_date(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"{path} is missing: run `make docs`"
    assert path.read_text() == PAGES[name](), f"{path} is stale: run `make docs`"
