"""The house plan holds: one-way imports between stages, no borrowed private names, light imports."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import HEAVY

PACKAGE = Path(__file__).resolve().parents[1] / "spotidance"
STAGES = ("core", "audio", "analyze", "dataset", "collect", "synth", "eda", "model", "classify")


def _own_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "spotidance":
            yield node


def test_no_module_imports_another_modules_private_name():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in _own_imports(ast.parse(path.read_text(), filename=str(path))):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {node.module}.{alias.name}")
    assert offenders == []


def test_own_package_imports_sit_at_the_top_of_modules():
    """Only heavy third-party libraries are imported inside functions; the stages' own imports are
    at the top, so a module's dependencies can be read there (and import-linter sees them all)."""
    inside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "cli.py":  # the CLI loads each command module by name, on demand
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        top = {id(n) for n in tree.body}
        for node in _own_imports(tree):
            if id(node) not in top:
                inside.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert inside == []


@pytest.mark.parametrize("stage", STAGES)
def test_importing_a_stage_stays_light(stage):
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module('spotidance.{stage}')\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"spotidance.{stage} imports at load time: {out.stdout.strip()}"


def test_import_contract_is_kept():
    """The layers contract in .importlinter (also run by .ci/run)."""
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    out = subprocess.run([lint, "--no-cache"], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stdout[-2000:]
