"""The catalog (`streamledger docs`): docs/ holds the pages of this version, every table, view, column and
macro carries a comment, and the HTML is well-formed, self-contained and names everything."""

from __future__ import annotations

import os
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streamledger import catalog, reports
from streamledger.cli import main
from streamledger.settings import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"
VOID = {"meta", "link", "br", "hr", "img", "input", "wbr"}


class Page(HTMLParser):
    """An HTML page read with html.parser: every element must close in order; ids and text are kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if values.get("id"):
            if values["id"] in self.ids:
                self.problems.append(f"id {values['id']!r} twice")
            self.ids.add(str(values["id"]))
        self.links += [str(value) for name, value in attrs if name in ("href", "src") and value]
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert not page.problems, page.problems[:5]
    assert page.open == [], f"left open: {page.open}"
    return page


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The pages as `streamledger docs` writes them into a new folder."""
    return catalog.write_docs(tmp_path_factory.mktemp("docs") / "out")


def test_the_pages_in_docs_are_current(written: list[Path]) -> None:
    assert sorted(path.name for path in written) == sorted(
        [*(f"{name}.{ext}" for name in catalog.PAGES for ext in ("md", "html")), "index.html"]
    )
    for path in written:
        kept = DOCS / path.name
        assert kept.exists(), f"{kept} is missing: run `make docs`"
        assert kept.read_bytes() == path.read_bytes(), f"{kept} is stale: run `make docs`"


def test_every_table_view_column_and_macro_of_a_new_warehouse_has_a_comment() -> None:
    missing = catalog.missing_comments()
    assert missing == [], "no comment (sql/definitions/00_table_comments.sql): " + ", ".join(missing)


def test_a_column_without_a_comment_is_named() -> None:
    with catalog.new_warehouse() as con:
        con.execute("create table extra (described integer, bare varchar)")
        con.execute("comment on table extra is 'A table.'")
        con.execute("comment on column extra.described is 'A column.'")
        con.execute("create macro twice(x) as 2 * x")
        assert catalog.missing_comments(con) == ["column extra.bare", "macro twice"]


def test_the_tables_page_names_every_table_view_column_and_macro_with_its_comment(
    written: list[Path],
) -> None:
    relations, macros = catalog.schema()
    assert {relation.kind for relation in relations} == {"table", "view"}
    assert len(relations) >= 20
    html = (written[0].parent / "tables.html").read_text()
    page = parsed(html)
    text = " ".join(" ".join(page.text).split())
    markdown = (written[0].parent / "tables.md").read_text()
    for relation in relations:
        assert relation.name in page.ids, relation.name
        assert f"### `{relation.name}`" in markdown
        for column in relation.columns:
            assert column.name in text
            assert f"| `{column.name}` | {column.data_type} |" in markdown
    for macro in macros:
        assert macro.name in page.ids
        assert macro.call in text
    assert " ".join(str(relations[0].comment).split()) in text  # escaped for HTML, read back as it was


def test_every_html_page_is_well_formed_self_contained_and_deterministic(written: list[Path]) -> None:
    for path in written:
        if path.suffix != ".html":
            continue
        page = parsed(path.read_text())
        assert {"html", "head", "title", "style", "main", "h1"} <= page.tags, path.name
        assert "script" not in page.tags, path.name
        assert all(not link.startswith(("http:", "https:", "//")) for link in page.links), path.name
        assert stat.S_IMODE(path.stat().st_mode) == catalog.PAGE_MODE
    pages = catalog.render()
    assert pages == catalog.render()
    index = parsed(pages["index.html"])
    assert {f"{name}.html" for name in catalog.PAGES} <= set(index.links)


def test_the_reports_page_shows_each_report_with_its_parameters_and_column_units(written: list[Path]) -> None:
    page = parsed((written[0].parent / "reports.html").read_text())
    text = " ".join(" ".join(page.text).split())
    markdown = (written[0].parent / "reports.md").read_text()
    for report in reports.catalog().values():
        assert report.name in page.ids
        for spec in report.parameter_specs:
            assert f"| `{spec.name}` | `{spec.given('VALUE')}` | {spec.unit} | {spec.default} |" in markdown
            assert spec.default in text
        for column in report.columns:
            assert f"| `{column.name}` | {column.unit} |" in markdown
        assert f"streamledger report {report.name}" in text


def test_the_settings_page_names_every_variable(written: list[Path]) -> None:
    page = parsed((written[0].parent / "settings.html").read_text())
    markdown = (written[0].parent / "settings.md").read_text()
    for setting in catalog.settings():
        assert setting.variables[0] in page.ids
        assert f"`{setting.variables[0]}`" in markdown
    assert len(catalog.settings()) == len(Settings.__dataclass_fields__)


def test_the_docs_command_writes_the_pages_and_rewrites_nothing_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    assert main(["docs", "--output", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {out / name}" for name in catalog.render()]
    first = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in out.iterdir()}
    os.utime(out / "tables.html", ns=(1, 1))
    assert main(["docs", "--output", str(out)]) == 0
    again = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in out.iterdir()}
    assert {name: data for name, (data, _) in again.items()} == {
        name: data for name, (data, _) in first.items()
    }
    assert again["tables.html"][1] == 1  # the same bytes: left as it was


def test_an_output_that_cannot_hold_the_pages_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["docs", "--output", str(blocker)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"streamledger: error: --output {blocker}: cannot write the pages there")
    assert err.count("\n") == 1
