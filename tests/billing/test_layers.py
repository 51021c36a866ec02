"""Billing sits on top: nothing below imports it, and the code-suggestion core stays pure."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOWER_APPS = ("telehealth", "scheduling", "intake", "messaging", "rpm", "visits")
PURE_MODULES = (
    "billing/coding.py",
    "billing/monitoring.py",
    "billing/online.py",
    "billing/progress.py",
    "billing/suggestions.py",
    *(str(path.relative_to(ROOT)) for path in (ROOT / "billing" / "rules").glob("*.py")),
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", LOWER_APPS)
def test_no_lower_layer_imports_billing(app):
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / app).rglob("*.py")
        if any(name.split(".")[0] == "billing" for name in imported_modules(path))
    ]
    assert offenders == []


@pytest.mark.parametrize("module", PURE_MODULES)
def test_the_suggestion_core_reads_no_database(module):
    names = imported_modules(ROOT / module)
    forbidden = [
        name
        for name in names
        if name.startswith("django.db")
        or name.split(".")[0] in LOWER_APPS
        or name.endswith(".models")
    ]
    assert forbidden == []
