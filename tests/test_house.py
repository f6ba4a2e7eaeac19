"""The house rules a newcomer relies on: every file fits on a screen or two, the layers hold, and the
wheel carries every subpackage and the explorer's page assets.

Sizes are counted from the source with ``ast``: a function from its ``def`` line to its last line
(decorators not counted), the same for a class, a module by its lines. A long one fails with its name.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "seq2seq_cli"
LIMITS = {"function": 50, "class": 200, "module": 400}
CHECKED = [PACKAGE, ROOT / "data" / "make_en_fr"]


def python_files() -> list[Path]:
    return sorted(path for folder in CHECKED for path in folder.rglob("*.py"))


def oversized(path: Path) -> list[str]:
    """Every function, class and module in ``path`` over its limit, as 'file:line name (N lines > limit)'."""
    source = path.read_text(encoding="utf-8")
    where = path.relative_to(ROOT)
    found = []
    lines = len(source.splitlines())
    if lines > LIMITS["module"]:
        found.append(f"{where}: module ({lines} lines > {LIMITS['module']})")
    for node in ast.walk(ast.parse(source)):
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            size = node.end_lineno - node.lineno + 1
            if size > LIMITS[kind]:
                found.append(f"{where}:{node.lineno} {kind} {node.name} ({size} lines > {LIMITS[kind]})")
    return found


def test_every_function_class_and_module_fits_on_a_screen():
    offenders = [line for path in python_files() for line in oversized(path)]
    assert not offenders, "too long:\n" + "\n".join(offenders)


def test_the_size_check_names_an_offender(tmp_path, monkeypatch):
    """The check above can fail: a 51-line function is named with its size."""
    long = tmp_path / "long.py"
    long.write_text("def long_one():\n" + "    x = 1\n" * 50)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert oversized(long) == ["long.py:1 function long_one (51 lines > 50)"]


def lint_imports() -> str:
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.skip("import-linter is not installed (pip install -c constraints.txt -e '.[test]')")
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    return result.stdout + result.stderr


def test_imports_only_point_down_the_layers():
    output = lint_imports()
    assert "0 broken" in output, output


def test_an_import_running_back_up_the_layers_is_rejected(tmp_path):
    """A data module importing the trainer is named by lint-imports (checked on a copy of the package)."""
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "seq2seq_cli", copy / "seq2seq_cli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    with open(copy / "seq2seq_cli" / "data" / "text.py", "a", encoding="utf-8") as module:
        module.write("\n\ndef _wrong_way():\n    from seq2seq_cli.training.trainer import train  # noqa: F401\n")
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.skip("import-linter is not installed")
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(linter), "--no-cache"], cwd=copy, capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "seq2seq_cli.data.text -> seq2seq_cli.training.trainer" in result.stdout


def test_the_wheel_holds_every_subpackage_and_the_page_assets(tmp_path):
    """An editable install finds files in the checkout; a user's wheel holds only what pyproject.toml names."""
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                             str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("seq2seq_cli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in PACKAGE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            assert str(path.relative_to(ROOT)) in names, f"{path.relative_to(ROOT)} is missing from the wheel"
