"""The catalog: what the warehouse holds and how to read it, in Markdown and static HTML: `streamledger docs`.

Every table, view, macro and column with the comment it carries in the database (sql/definitions), every
report with its question, grain, parameters and the unit of each column (the headers of sql/reports), and
every setting (streamledger/settings.py). The warehouse read is a new in-memory one with every migration
and definition applied, so the pages depend on the code alone, never on anybody's data, and two runs
write the same bytes. docs/ holds the pages of this version; tests/cli/test_docs.py fails when one is
stale.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import duckdb
import jinja2
from markupsafe import Markup, escape

from streamledger import reports, warehouse
from streamledger.errors import StreamledgerError
from streamledger.files import write_atomically
from streamledger.settings import Settings

PAGES = ("tables", "reports", "settings")  # each as NAME.md and NAME.html, with index.html
PAGE_MODE = 0o644  # pages describe the code, not anybody's data: readable by all, as a web server needs
_CODE_SPAN = re.compile(r"`([^`]+)`")


class DocsError(StreamledgerError):
    """The pages could not be written where asked; the message names the folder and --output."""


@dataclass(frozen=True)
class Column:
    """A column of a table or view, with its type and comment (None: it has none)."""

    name: str
    data_type: str
    comment: str | None


@dataclass(frozen=True)
class Relation:
    """A table or view of the warehouse, with its comment and columns in their order."""

    kind: str  # table or view
    name: str
    comment: str | None
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class Macro:
    """A macro of the warehouse: a table macro gives a table, a macro gives a value."""

    name: str
    kind: str  # macro or table_macro
    parameters: tuple[str, ...]
    comment: str | None

    @property
    def call(self) -> str:
        """How it is called, e.g. session_usage_between(period_start, period_end)."""
        return f"{self.name}({', '.join(self.parameters)})"

    @property
    def gives(self) -> str:
        """What a call gives: a table or a value."""
        return "a table" if self.kind == "table_macro" else "a value"


@dataclass(frozen=True)
class Setting:
    """A setting: its variable (and aliases), its default as shown to people, and its meaning."""

    variables: tuple[str, ...]
    default: str
    meaning: str


@contextmanager
def new_warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield a new in-memory warehouse with every migration and definition of this version applied."""
    con = duckdb.connect(":memory:")
    try:
        warehouse.run_file(con, "warehouse/session.sql")
        warehouse.migrate(con, "the catalog's in-memory warehouse")
        yield con
    finally:
        con.close()


def schema(con: duckdb.DuckDBPyConnection | None = None) -> tuple[list[Relation], list[Macro]]:
    """Return every table and view (tables first, each by name) and every macro of the warehouse `con`
    (by default a new one: what this version creates)."""
    if con is None:
        with new_warehouse() as new:
            return schema(new)
    rows = warehouse.query(con, "warehouse/catalog.sql").rows(named=True)
    macro_rows = warehouse.query(con, "warehouse/catalog_macros.sql").rows(named=True)
    relations = []
    for (kind, name), group in itertools.groupby(rows, key=lambda row: (row["kind"], row["name"])):
        items = list(group)
        columns = tuple(Column(r["column_name"], r["data_type"], r["column_comment"]) for r in items)
        relations.append(Relation(kind, name, items[0]["comment"], columns))
    macros = [Macro(r["name"], r["kind"], tuple(r["parameters"]), r["comment"]) for r in macro_rows]
    return relations, macros


def missing_comments(con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
    """Return every table, view, column and macro without a comment, by name, of the warehouse `con` (by
    default a new one)."""
    relations, macros = schema(con)
    missing = []
    for relation in relations:
        if not (relation.comment or "").strip():
            missing.append(f"{relation.kind} {relation.name}")
        missing += [
            f"column {relation.name}.{column.name}"
            for column in relation.columns
            if not (column.comment or "").strip()
        ]
    missing += [f"macro {macro.name}" for macro in macros if not (macro.comment or "").strip()]
    return missing


def settings() -> list[Setting]:
    """Return every setting of the Settings class, in its order, with its variable, default and help."""
    described = []
    for item in fields(Settings):
        meta = item.metadata
        default = meta.get("shown") or _default(item.default, item.default_factory)
        described.append(Setting((meta["env"], *meta.get("aliases", ())), default, meta["help"]))
    return described


def _default(value: object, factory: object) -> str:
    if value is MISSING:
        value = factory() if callable(factory) else ""
    if value in ("", ()):
        return "(none)"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value:,}`" if isinstance(value, int) else f"`{value}`"


def render() -> dict[str, str]:
    """Return every page by file name: NAME.md and NAME.html for each of PAGES, and index.html."""
    relations, macros = schema()
    report_list = list(reports.catalog().values())
    setting_list = settings()
    examples = {report.name: [line[2:] for line in reports.example(report)] for report in report_list}
    groups = [
        (f"{kind.capitalize()}s", list(items))
        for kind, items in itertools.groupby(relations, key=lambda relation: relation.kind)
    ]
    context: dict[str, dict[str, object]] = {
        "tables": {
            "title": "Tables, views and macros",
            "source": "the COMMENT ON statements of sql/definitions",
            "groups": groups,
            "macros": macros,
        },
        "reports": {
            "title": "Reports",
            "source": "the headers of sql/reports/*.sql",
            "reports": report_list,
            "examples": examples,
        },
        "settings": {"title": "Settings", "source": "streamledger/settings.py", "settings": setting_list},
    }
    pages = {}
    for name in PAGES:
        pages[f"{name}.md"] = _template(f"{name}.md.j2").render(context[name])
        pages[f"{name}.html"] = _template(f"{name}.html.j2").render(context[name])
    pages["index.html"] = _template("index.html.j2").render(
        title="streamledger catalog",
        source="streamledger/catalog.py",
        relations=len(relations),
        columns=sum(len(relation.columns) for relation in relations),
        macros=len(macros),
        reports=len(report_list),
        settings=len(setting_list),
    )
    return pages


def write_docs(out: Path) -> list[Path]:
    """Write every page into the folder `out` (created if need be); return their paths, in order.

    A page whose bytes are already there is left as it is (its time stamp too), so `make docs` after no
    change changes nothing.
    """
    written = []
    try:
        for name, text in render().items():
            path = out / name
            data = text.encode("utf-8")
            if not path.is_file() or path.read_bytes() != data:
                write_atomically(path, data)
            os.chmod(path, PAGE_MODE)
            written.append(path)
    except OSError as exc:
        raise DocsError(f"--output {out}: cannot write the pages there: {exc.strerror or exc}") from None
    return written


def _template(name: str) -> jinja2.Template:
    return _environment().get_template(name)


def _environment() -> jinja2.Environment:
    """The templates of streamledger/docs_templates: HTML escaped, Markdown not; undefined names fail."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("streamledger", "docs_templates"),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["cell"] = _cell
    environment.filters["inline"] = _inline
    return environment


def _cell(text: str | None) -> str:
    """A text as one Markdown table cell (or paragraph): one line, pipes escaped."""
    return " ".join((text or "").split()).replace("|", "\\|")


def _inline(text: str | None) -> Markup:
    """A text as HTML: escaped, with its `code spans` as <code> (comments and help use them)."""
    escaped = str(escape(" ".join((text or "").split())))
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", escaped))
