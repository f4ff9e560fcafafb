"""The house rules, checked: shared/ never imports a service, no service imports another,
the contracts import no Kafka, database or model library, modules stay small and app.py
only wires."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = sorted((ROOT / "shared").rglob("*.py")) + sorted((ROOT / "services").rglob("*.py"))
MAX_MODULE_LINES = 300
MAX_APP_FUNCTION_LINES = 40


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_shared_never_imports_a_service() -> None:
    offenders = {
        relative(path): sorted(m for m in imported_modules(path) if m.split(".")[0] == "services")
        for path in (ROOT / "shared").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_service_imports_another() -> None:
    offenders = {}
    for path in (ROOT / "services").rglob("*.py"):
        own = path.relative_to(ROOT / "services").parts[0]
        others = [
            m
            for m in imported_modules(path)
            if m.startswith("services.") and m.split(".")[1] != own
        ]
        if others:
            offenders[relative(path)] = others
    assert not offenders


def test_the_contracts_import_no_kafka_database_or_model_library() -> None:
    """Any Kafka client can use the contracts without pulling pillars' runtime."""
    heavy = ("faststream", "aiokafka", "asyncpg", "torch", "sentence_transformers", "onnxruntime")
    script = (
        "import sys, shared.contracts.events, shared.contracts.topics, "
        "shared.contracts.cloudevents, shared.contracts.schemas; "
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("path", SOURCES, ids=relative)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{relative(path)} has {lines} lines: split it by idea"


@pytest.mark.parametrize("path", sorted((ROOT / "services").glob("*/app.py")), ids=relative)
def test_app_modules_only_wire(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert all(n <= MAX_APP_FUNCTION_LINES for n in long.values()), long
