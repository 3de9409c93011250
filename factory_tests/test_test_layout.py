"""The test suite's own habit: shared helpers come from ``factory_tests.helpers`` (or fixtures), never from a
``conftest`` or another test module, whose import would run its tests' module code twice under two names."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported_modules(path: Path) -> list[str]:
    """Every absolute module ``path`` imports, ``from x import y`` read as both ``x`` and ``x.y``."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def _is_test_or_conftest(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module.startswith("factory_tests.") and (last == "conftest" or last.startswith("test_"))


def test_no_module_imports_a_conftest_or_a_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): sorted(m for m in _imported_modules(path) if _is_test_or_conftest(m))
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_check_sees_both_kinds_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from factory_tests.conftest import x\n"
        "from factory_tests.resources import test_warehouse\n"
        "import factory_tests.core.test_gates\n"
        "from factory_tests.helpers import small_spec\n",
        encoding="utf-8",
    )
    found = [m for m in _imported_modules(sample) if _is_test_or_conftest(m)]
    assert found == [
        "factory_tests.conftest",
        "factory_tests.resources.test_warehouse",
        "factory_tests.core.test_gates",
    ]
