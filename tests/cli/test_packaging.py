"""The product stands alone: it imports nothing of the simulator, and its SQL travels with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import streamledger
from streamledger import warehouse

IMPORT_EVERYTHING = """
import pkgutil, sys
import streamledger
for module in pkgutil.walk_packages(streamledger.__path__, "streamledger."):
    __import__(module.name)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("simulator", "tests", "benchmarks")))
"""


def test_the_product_imports_nothing_of_the_simulator_or_the_tests() -> None:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_the_sql_is_found_inside_the_package() -> None:
    package = Path(streamledger.__file__).parent
    assert package / "sql" == warehouse.SQL_DIR
    assert sorted(p.name for p in (package / "sql" / "migrations").glob("*.sql"))
