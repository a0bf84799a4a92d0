"""The suite's own layout: shared helpers come from tests.support, never from a test module or a conftest."""

from __future__ import annotations

import ast

from tests.support import PROJECT_ROOT

TESTS = PROJECT_ROOT / "tests"


def imported_modules(path):
    """Return the absolute module names a Python file imports."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def is_test_module_or_conftest(name):
    last = name.rsplit(".", 1)[-1]
    return name.startswith("tests.") and (last == "conftest" or last.startswith("test_"))


def test_no_module_imports_a_test_module_or_a_conftest():
    offenders = {
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_modules(path)
        if is_test_module_or_conftest(name)
    }

    assert offenders == set(), "move shared helpers to tests/support.py and import them from there"
