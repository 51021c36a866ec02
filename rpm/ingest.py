"""Reading a device's upload: the simple JSON form, FHIR Observations and Bundles of them.
Each item becomes readings in canonical units, or a rejection with its index and the reason;
one bad item never spoils the rest of the batch."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

MAX_ITEMS = 10_000
FUTURE_SLACK = timedelta(minutes=5)  # device clocks run a little fast

LOINC = {
    "8480-6": "systolic",
    "8462-4": "diastolic",
    "8867-4": "heart_rate",
    "29463-7": "weight",
    "2339-0": "glucose",
    "59408-5": "spo2",
    "8310-5": "temperature",
}
BP_PANEL = "85354-9"


def _same(v: float) -> float:
    return v


# Units each vital accepts (UCUM codes and common spellings), converted to the canonical one.
UNITS = {
    "systolic": {"mmHg": _same, "mm[Hg]": _same},
    "diastolic": {"mmHg": _same, "mm[Hg]": _same},
    "heart_rate": {"/min": _same, "bpm": _same, "beats/min": _same, "{beats}/min": _same},
    "weight": {
        "kg": _same,
        "g": lambda v: v / 1000,
        "lb": lambda v: v * 0.45359237,
        "[lb_av]": lambda v: v * 0.45359237,
    },
    "glucose": {"mg/dL": _same, "mmol/L": lambda v: v * 18.0182},
    "spo2": {"%": _same},
    "temperature": {
        "Cel": _same,
        "°C": _same,
        "C": _same,
        "[degF]": lambda v: (v - 32) * 5 / 9,
        "°F": lambda v: (v - 32) * 5 / 9,
    },
}
CANONICAL = {
    "systolic": "mmHg",
    "diastolic": "mmHg",
    "heart_rate": "/min",
    "weight": "kg",
    "glucose": "mg/dL",
    "spo2": "%",
    "temperature": "°C",
}
# Values no living patient's device reports: a typo or a broken sensor, not an emergency.
PLAUSIBLE = {
    "systolic": (50, 300),
    "diastolic": (20, 200),
    "heart_rate": (20, 300),
    "weight": (1, 500),
    "glucose": (10, 1000),
    "spo2": (50, 100),
    "temperature": (30, 45),
}
SIMPLE_TYPES = {
    "blood_pressure": ("systolic", "diastolic", "heart_rate"),
    **{vital: (vital,) for vital in UNITS},
}


class Rejected(ValueError):
    pass


@dataclass(frozen=True)
class Parsed:
    index: int
    vital: str
    value: float
    measured_at: datetime


def _time(raw, now: datetime) -> datetime:
    moment = None
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)  # fast path: what devices send
        except ValueError:
            try:
                moment = parse_datetime(raw)
            except ValueError:  # well formed but not a date, e.g. month 13
                moment = None
    if moment is None:
        raise Rejected("measured_at must be an ISO 8601 date and time")
    if timezone.is_naive(moment):
        raise Rejected("measured_at needs a UTC offset, e.g. 2026-11-23T08:15:00Z")
    if moment > now + FUTURE_SLACK:
        raise Rejected("measured_at is in the future")
    return moment


def _value(vital: str, raw, unit: str | None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Rejected(f"{vital}: the value must be a number")
    unit = unit or CANONICAL[vital]
    convert = UNITS[vital].get(unit) if isinstance(unit, str) else None
    if convert is None:
        raise Rejected(f"{vital}: unit {unit!r} is not accepted (use {', '.join(UNITS[vital])})")
    try:
        value = round(float(convert(raw)), 2)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise Rejected(f"{vital}: the value must be a finite number")
    low, high = PLAUSIBLE[vital]
    if not low <= value <= high:
        raise Rejected(
            f"{vital}: {value} {CANONICAL[vital]} is not a possible reading "
            f"({low}-{high} {CANONICAL[vital]})"
        )
    return value


def _simple(index: int, item: dict, now: datetime) -> list[Parsed]:
    kind = item.get("type") or item.get("vital")
    if not isinstance(kind, str) or kind not in SIMPLE_TYPES:
        raise Rejected(f"unknown type {kind!r} (use {', '.join(SIMPLE_TYPES)})")
    at = _time(item.get("measured_at"), now)
    if kind == "blood_pressure":
        if "systolic" not in item or "diastolic" not in item:
            raise Rejected("blood_pressure needs systolic and diastolic")
        parsed = [
            Parsed(index, v, _value(v, item[v], item.get("unit")), at)
            for v in ("systolic", "diastolic")
        ]
        if item.get("heart_rate") is not None:
            parsed.append(
                Parsed(index, "heart_rate", _value("heart_rate", item["heart_rate"], None), at)
            )
        if parsed[0].value <= parsed[1].value:
            raise Rejected("systolic must be higher than diastolic")
        return parsed
    return [Parsed(index, kind, _value(kind, item.get("value"), item.get("unit")), at)]


def _loinc(concept: dict | None) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system", "http://loinc.org") == "http://loinc.org" and coding.get("code"):
            return coding["code"]
    return ""


def _quantity(vital: str, quantity: dict | None) -> float:
    if not quantity:
        raise Rejected(f"{vital}: valueQuantity is missing")
    return _value(vital, quantity.get("value"), quantity.get("code") or quantity.get("unit"))


def _observation(index: int, resource: dict, now: datetime) -> list[Parsed]:
    try:
        Observation.model_validate(resource)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise Rejected(f"not a valid FHIR Observation: {where}: {first.get('msg', '')}") from error
    at = _time(resource.get("effectiveDateTime") or resource.get("issued"), now)
    code = _loinc(resource.get("code"))
    if code == BP_PANEL:
        parsed = []
        for component in resource.get("component", []):
            vital = LOINC.get(_loinc(component.get("code")))
            if vital in ("systolic", "diastolic", "heart_rate"):
                parsed.append(
                    Parsed(index, vital, _quantity(vital, component.get("valueQuantity")), at)
                )
        vitals = {p.vital for p in parsed}
        if not {"systolic", "diastolic"} <= vitals:
            raise Rejected("a blood pressure panel needs systolic 8480-6 and diastolic 8462-4")
        return parsed
    vital = LOINC.get(code)
    if vital is None:
        raise Rejected(f"unknown LOINC code {code!r}")
    return [Parsed(index, vital, _quantity(vital, resource.get("valueQuantity")), at)]


def items_of(payload) -> tuple[list, str]:
    """The items of an upload and its form: a list or {"readings": [...]} (simple), a FHIR
    Observation, or a Bundle of them."""
    if isinstance(payload, list):
        return payload, "simple"
    if isinstance(payload, dict):
        kind = payload.get("resourceType")
        if kind == "Bundle":
            entries = payload.get("entry", [])
            if not isinstance(entries, list):
                raise Rejected("Bundle.entry must be a list of entries.")
            return [e.get("resource") if isinstance(e, dict) else e for e in entries], "fhir"
        if kind == "Observation":
            return [payload], "fhir"
        if isinstance(payload.get("readings"), list):
            return payload["readings"], "simple"
        if "type" in payload or "vital" in payload:
            return [payload], "simple"
    raise Rejected(
        'Send a list of readings, {"readings": [...]}, a FHIR Observation or a Bundle of them.'
    )


def parse(payload, *, now: datetime | None = None) -> tuple[list[Parsed], list[dict]]:
    """(readings, rejections). Raises Rejected when the upload as a whole is unusable."""
    now = now or timezone.now()
    items, form = items_of(payload)
    if len(items) > MAX_ITEMS:
        raise Rejected(
            f"A batch holds at most {MAX_ITEMS:,} readings; this one has {len(items):,}."
        )
    readings: list[Parsed] = []
    rejected: list[dict] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise Rejected("each reading is a JSON object")
            if form == "fhir" or item.get("resourceType") == "Observation":
                readings += _observation(index, item, now)
            else:
                readings += _simple(index, item, now)
        except Rejected as reason:
            rejected.append({"index": index, "reason": str(reason)})
    return readings, rejected
