"""docs/robustness.md's fault matrix names, on every row, the test that does it: each named test
exists, so a row cannot outlive its test (renamed or deleted) unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "docs" / "robustness.md"


def defined_tests() -> dict[str, set[str]]:
    return {path.name: set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
            for path in (ROOT / "tests").glob("test_*.py")}


def matrix_rows() -> list[str]:
    text = MATRIX.read_text(encoding="utf-8").split("## The fault matrix", 1)[1].split("\n## ", 1)[0]
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| fault", "| ---"))]


def test_every_fault_row_names_a_test_that_exists():
    tests = defined_tests()
    everywhere = set().union(*tests.values())
    rows = matrix_rows()
    assert len(rows) >= 25
    for row in rows:
        cited = re.findall(r"`(?:(test_\w+\.py)(?:::(test_\w+))?|(test_\w+))`", row.rsplit("|", 2)[-2])
        assert cited, f"a fault row names no test: {row[:80]}"
        for module, name, bare in cited:
            if module and name:
                assert name in tests.get(module, set()), f"{module}::{name} does not exist"
            elif module:
                assert module in tests, f"{module} does not exist"
            else:
                assert bare in everywhere, f"{bare} does not exist"
