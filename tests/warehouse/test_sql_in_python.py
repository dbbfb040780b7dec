"""No SQL in Python: every statement streamledger runs is a file under sql/ (transaction control aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
TRANSACTION_CONTROL = {"begin transaction", "commit", "rollback"}


def calls_running_sql(root: Path = ROOT) -> list[tuple[str, int, ast.expr, str]]:
    """(file, line, first argument, enclosing function) of every .execute(...) and .sql(...) call."""
    found = []
    linked = {root / "streamledger" / name for name in ("flows", "transforms", "sql")}  # seen at the top
    for folder in ("streamledger", "flows", "transforms"):
        for path in sorted((root / folder).rglob("*.py")):
            if linked & set(path.parents):
                continue
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef):
                    continue
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("execute", "sql")
                        and node.args
                    ):
                        found.append(
                            (path.relative_to(root).as_posix(), node.lineno, node.args[0], function.name)
                        )
    return found


def test_statements_come_from_files_and_only_the_binder_formats_text() -> None:
    calls = calls_running_sql()
    assert len(calls) >= 10
    inline = [
        (file, line)
        for file, line, argument, function in calls
        if isinstance(argument, ast.Constant) and argument.value not in TRANSACTION_CONTROL
    ]
    formatted = [
        (file, line, function)
        for file, line, argument, function in calls
        if isinstance(argument, ast.JoinedStr | ast.BinOp)
        or (isinstance(argument, ast.Call) and getattr(argument.func, "attr", "") == "format")
    ]
    assert inline == []
    assert (
        formatted == [("streamledger/warehouse.py", formatted[0][1], "bind_variables")]
        if formatted
        else False
    )
