"""The test suite's own layout: one set of flow helpers, and no test importing a conftest.

Two helper modules once defined `until`, `dm_of`, `ready_build` and `press` with different
meanings, and tests imported constants from conftest files (one conftest even imported
another's fixtures). Helpers and constants live in tests/support; conftest files hold
fixtures and hooks for pytest to find.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"


def conftest_imports(source: str) -> list[str]:
    """The import statements of `source` that reach a conftest module, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        if any("conftest" in module.split(".") for module in modules):
            found.append(ast.unparse(node))
    return found


def functions(path: Path) -> set[str]:
    """The public functions a module defines at its top level."""
    tree = ast.parse(path.read_text())
    defined = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {n.name for n in tree.body if isinstance(n, defined) and not n.name.startswith("_")}


@pytest.mark.parametrize(
    "line",
    [
        "from tests.e2e.conftest import SECRET",
        "from tests.e2e import conftest as e2e",
        "import tests.trust.conftest",
        "from .conftest import Shared",
        "from . import conftest",
    ],
)
def test_each_way_of_importing_a_conftest_is_seen(line: str) -> None:
    assert conftest_imports(f"x = 1\n{line}\n") == [line]


def test_no_module_under_tests_imports_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := conftest_imports(path.read_text()))
    }
    assert offenders == {}, "import these from tests/support instead"


def test_each_flow_helper_is_defined_once_in_tests_support() -> None:
    flow = SUPPORT / "flow.py"
    helpers = functions(flow)
    assert {"until", "dm_of", "ready_build", "press"} <= helpers
    again = {
        str(path.relative_to(TESTS)): sorted(helpers & functions(path))
        for path in sorted(SUPPORT.rglob("*.py"))
        if path != flow and helpers & functions(path)
    }
    assert again == {}, "one meaning per helper: use or extend tests/support/flow.py"
