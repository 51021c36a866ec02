"""Monthly RPM figures per patient and the CPT codes they support, with the rules kept as data
and the year each applies from.

Checked against summaries of the CY 2026 Medicare Physician Fee Schedule final rule (CMS,
November 2025): 99445 (device supply, 2-15 days of data in 30) beside 99454 (16-30 days), not
both; 99470 (first 10 minutes of treatment management with an interactive contact) beside
99457 (first 20 minutes), not both; 99458 per further 20 minutes after 99457. Confirm against
the published rule and the payer's policy before billing."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncDate

from rpm.models import Enrollment, Reading, TimeLog

# Each rule: the code, the first year it applies, and what it needs.
RULES: list[dict[str, Any]] = [
    {"code": "99453", "from": 2019, "until": 2025, "setup": True, "min_days": 16},
    {"code": "99453", "from": 2026, "setup": True, "min_days": 2},
    {"code": "99454", "from": 2019, "min_days": 16, "max_days": 31},
    {"code": "99445", "from": 2026, "min_days": 2, "max_days": 15},
    {"code": "99457", "from": 2019, "min_minutes": 20, "interactive": True},
    {"code": "99470", "from": 2026, "min_minutes": 10, "max_minutes": 19, "interactive": True},
    {"code": "99458", "from": 2019, "per_further_minutes": 20, "after_minutes": 20},
]


@dataclass
class Month:
    year: int
    month: int
    days_with_readings: int
    minutes: int
    interactive: bool
    setup_this_month: bool
    codes: list[tuple[str, int]] = field(default_factory=list)  # (code, units)


def _applies(rule: dict, year: int) -> bool:
    return rule["from"] <= year <= rule.get("until", 9999)


def codes_for(
    *, year: int, days: int, minutes: int, interactive: bool, setup: bool
) -> list[tuple[str, int]]:
    codes = []
    for rule in (r for r in RULES if _applies(r, year)):
        if rule.get("setup"):
            if setup and days >= rule["min_days"]:
                codes.append((rule["code"], 1))
        elif "max_days" in rule:
            if rule["min_days"] <= days <= rule["max_days"]:
                codes.append((rule["code"], 1))
        elif rule.get("interactive"):
            ceiling = rule.get("max_minutes", 10**6)
            if interactive and rule["min_minutes"] <= minutes <= ceiling:
                codes.append((rule["code"], 1))
        elif "per_further_minutes" in rule and (
            interactive and minutes >= rule["after_minutes"] + rule["per_further_minutes"]
        ):
            units = (minutes - rule["after_minutes"]) // rule["per_further_minutes"]
            codes.append((rule["code"], units))
    return codes


def month_figures(*, patient, year: int, month: int) -> Month:
    first = date(year, month, 1)
    nxt = date(year + month // 12, month % 12 + 1, 1)
    zone = patient.practice.zone
    days = (
        Reading.objects.filter(
            patient=patient,
            measured_at__date__gte=first - timedelta(days=1),
            measured_at__date__lt=nxt + timedelta(days=1),
        )
        .annotate(day=TruncDate("measured_at", tzinfo=zone))
        .filter(day__gte=first, day__lt=nxt)
        .values("day")
        .distinct()
        .count()
    )
    logs = TimeLog.objects.filter(patient=patient, day__gte=first, day__lt=nxt)
    minutes = logs.aggregate(total=Sum("minutes"))["total"] or 0
    interactive = logs.filter(kind=TimeLog.Kind.INTERACTIVE).exists()
    setup = Enrollment.objects.filter(
        patient=patient, start_date__gte=first, start_date__lt=nxt
    ).exists()
    return Month(
        year=year,
        month=month,
        days_with_readings=days,
        minutes=minutes,
        interactive=interactive,
        setup_this_month=setup,
        codes=codes_for(
            year=year, days=days, minutes=minutes, interactive=interactive, setup=setup
        ),
    )
