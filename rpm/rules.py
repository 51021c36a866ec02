"""Alert rules as plain functions over numbers: thresholds (practice defaults per program, a
patient's own overrides, and these built-in ones when a practice set none), distance from
the patient's own 30-day baseline (robust z-score), weight gain in heart failure, and the
episode key that groups readings into one alert."""

import statistics
from dataclasses import dataclass

# (vital, op, value, severity): op "ge" is "at or above", "lt" is "below".
DEFAULT_THRESHOLDS = [
    ("systolic", "ge", 180, "critical"),
    ("systolic", "ge", 160, "warning"),
    ("diastolic", "ge", 120, "critical"),
    ("diastolic", "ge", 100, "warning"),
    ("glucose", "lt", 54, "critical"),
    ("glucose", "lt", 70, "warning"),
    ("glucose", "ge", 300, "warning"),
    ("spo2", "lt", 88, "critical"),
    ("spo2", "lt", 92, "warning"),
    ("heart_rate", "ge", 130, "warning"),
    ("heart_rate", "lt", 40, "warning"),
    ("temperature", "ge", 38.5, "warning"),
]
SEVERITY_RANK = {"warning": 1, "critical": 2}

Z_LIMIT = 3.5  # robust z-score beyond which a reading is far from the patient's own normal
BASELINE_DAYS = 30
BASELINE_MINIMUM = 14  # readings needed before a baseline means anything
WEIGHT_DAY_KG = 1.0
WEIGHT_WEEK_KG = 2.0


@dataclass(frozen=True)
class Limit:
    vital: str
    op: str
    value: float
    severity: str

    def breached(self, value: float) -> bool:
        return value >= self.value if self.op == "ge" else value < self.value

    @property
    def direction(self) -> str:
        return "high" if self.op == "ge" else "low"

    def describe(self, value: float, unit: str) -> str:
        sign = "≥" if self.op == "ge" else "<"
        return f"{value:g} {unit} ({sign} {self.value:g})"


def effective_limits(practice_rows, patient_rows) -> dict[str, list[Limit]]:
    """Per vital, the limits in force, most severe first: a patient's own rows replace the
    practice's for that vital; a practice with no rows for a vital gets the built-in ones."""
    by_vital: dict[str, list[Limit]] = {}
    for vital, op, value, severity in DEFAULT_THRESHOLDS:
        by_vital.setdefault(vital, []).append(Limit(vital, op, value, severity))
    practice: dict[str, list[Limit]] = {}
    for row in practice_rows:
        practice.setdefault(row.vital, []).append(Limit(row.vital, row.op, row.value, row.severity))
    own: dict[str, list[Limit]] = {}
    for row in patient_rows:
        own.setdefault(row.vital, []).append(Limit(row.vital, row.op, row.value, row.severity))
    by_vital.update(practice)
    by_vital.update(own)
    return {
        vital: sorted(limits, key=lambda x: -SEVERITY_RANK[x.severity])
        for vital, limits in by_vital.items()
    }


def worst_breach(limits: list[Limit], value: float) -> Limit | None:
    for limit in limits:  # most severe first
        if limit.breached(value):
            return limit
    return None


def baseline_stats(baseline: list[float]) -> tuple[float, float] | None:
    """(median, MAD) of the patient's recent values, or None without enough (or with flat)
    history."""
    if len(baseline) < BASELINE_MINIMUM:
        return None
    median = statistics.median(baseline)
    mad = statistics.median(abs(x - median) for x in baseline)
    return (median, mad) if mad else None


def robust_z(value: float, stats: tuple[float, float]) -> float:
    """0.6745 × (value − median) / MAD."""
    median, mad = stats
    return 0.6745 * (value - median) / mad


def episode(rule: str, vital: str, severity: str, direction: str = "") -> str:
    return ":".join(p for p in (rule, vital, severity, direction) if p)
