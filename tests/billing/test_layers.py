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


# Analytics sits on top of everything, billing included: nothing imports it, and it reads the
# other apps only through their selectors (the core's accounts for the user and role checks).
ANALYTICS_READS_THROUGH = (
    "scheduling",
    "intake",
    "messaging",
    "rpm",
    "visits",
    "documents",
    "feedback",
)
CORE_ALLOWED = ("telehealth.accounts.access", "telehealth.accounts.models")


@pytest.mark.parametrize("app", (*LOWER_APPS, "documents", "billing", "feedback"))
def test_nothing_imports_analytics(app):
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / app).rglob("*.py")
        if any(name.split(".")[0] == "analytics" for name in imported_modules(path))
    ]
    assert offenders == []


def imported_names(path: Path) -> set[str]:
    """Modules and the names taken from them: `from scheduling import selectors` gives
    "scheduling.selectors", `from scheduling.models import Appointment` gives
    "scheduling.models.Appointment"."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _past_selectors(name: str) -> bool:
    top = name.split(".")[0]
    if top in ANALYTICS_READS_THROUGH:
        return not _within(name, f"{top}.selectors")
    if top == "telehealth":
        return not (any(_within(name, core) for core in CORE_ALLOWED) or ".selectors" in name)
    return top == "billing" and ".models" in name


def analytics_reaching_past_selectors(names: set[str]) -> list[str]:
    return [name for name in names if _past_selectors(name)]


@pytest.mark.parametrize(
    "module", [str(p.relative_to(ROOT)) for p in sorted((ROOT / "analytics").rglob("*.py"))]
)
def test_analytics_reads_other_apps_only_through_their_selectors(module):
    assert analytics_reaching_past_selectors(imported_names(ROOT / module)) == []


def test_the_analytics_layer_check_catches_a_model_import():
    found = analytics_reaching_past_selectors(
        {
            "scheduling.models.Appointment",
            "telehealth.notify.models.OutboundMessage",
            "telehealth.notify.wording",
            "rpm.selectors",
            "rpm.selectors.alert_facts",
            "billing.models.Encounter",
            "billing.rules.monitoring_rules_on",
            "telehealth.accounts.models.User",
        }
    )
    assert sorted(found) == [
        "billing.models.Encounter",
        "scheduling.models.Appointment",
        "telehealth.notify.models.OutboundMessage",
        "telehealth.notify.wording",
    ]
