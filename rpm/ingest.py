"""Reading a device's upload: the simple JSON form, FHIR Observations and Bundles of them.
Each item becomes readings in canonical units (an amended or corrected Observation's readings
replace the ones stored for it), a retraction (an Observation marked entered-in-error), an
entry we do not keep (a Patient or Device in a personal health device Bundle, an Observation
of something we do not monitor), or a refusal with its reason; one bad item never spoils the
rest of the batch. Pure: no database, no settings."""

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from rpm.vitals import (
    CANONICAL,
    MDC,
    MDC_UNITS,
    SAME,
    UCUM,
    UNITS,
    is_panel,
    unit_named,
    vital_of,
)

MAX_ITEMS = 10_000
FUTURE_SLACK = timedelta(minutes=5)  # device clocks run a little fast

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
STORED_STATUSES = ("final", "amended", "corrected")
AMENDING_STATUSES = ("amended", "corrected")
IDENTIFIER_PART_MAX = 255  # system and value each; stored together as "system|value"
# Kept on the device's upload, not stored: the device token already names patient and device.
KNOWN_CONTEXT = ("Patient", "Device", "DeviceMetric")
_DATE_ONLY = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


class Rejected(ValueError):
    """Why an item (or the whole upload) is refused; `expression` is the FHIR path of the
    element at fault, when the item is FHIR. `in_entry`: the Bundle entry around the resource
    is malformed (answered 400), not the resource (422)."""

    def __init__(self, message: str, expression: str = "", *, in_entry: bool = False):
        super().__init__(message)
        self.expression = expression
        self.in_entry = in_entry


class Parsed(NamedTuple):
    """One reading an item asks to store (a tuple: an upload builds thousands)."""

    index: int  # type: ignore[assignment]  # the item's place in the upload, not tuple.index
    vital: str
    value: float
    measured_at: datetime
    identifier: str = ""


@dataclass
class Item:
    """One item of an upload and what it asks for: readings to store (`amends`: replacing
    the stored readings it corrects), a reading to retract, nothing (ignored, with why), or
    a refusal."""

    index: int
    readings: list[Parsed] = field(default_factory=list)
    amends: bool = False
    retract: str = ""
    ignored: str = ""
    refused: Rejected | None = None


@dataclass
class Upload:
    form: str  # "simple" or "fhir"
    bundle_type: str  # the Bundle's type, "" when the upload is not a Bundle
    items: list[Item]


@dataclass(frozen=True)
class Window:
    """Readings are taken between `earliest` (enrolment less the backfill a device may hold)
    and now, give or take a fast clock."""

    now: datetime
    earliest: datetime | None = None
    accept_preliminary: bool = False
    latest: datetime = field(init=False)  # now, give or take a fast clock: set from `now`

    def __post_init__(self) -> None:
        object.__setattr__(self, "latest", self.now + FUTURE_SLACK)


# --- Shared pieces --------------------------------------------------------------------------


def _moment(raw, window: Window, *, element: str = "") -> datetime:
    """The measurement time. `element` is the FHIR element it came from ("" for the simple
    form, whose field is measured_at); messages name what the caller sent."""
    fhir = bool(element)
    moment = None
    if isinstance(raw, str):
        if fhir and _DATE_ONLY.fullmatch(raw):
            raise Rejected(
                f"{element}: a date without a time ({raw}) cannot place a reading; send the "
                "time of measurement with its UTC offset, e.g. 2026-11-23T08:15:00Z",
                element,
            )
        try:
            moment = datetime.fromisoformat(raw)  # fast path: what devices send
        except ValueError:
            try:
                moment = parse_datetime(raw)
            except ValueError:  # well formed but not a date, e.g. month 13
                moment = None
    if moment is None:
        if fhir:
            raise Rejected(f"{element}: {raw!r} is not a FHIR dateTime", element)
        raise Rejected("measured_at must be an ISO 8601 date and time")
    if moment.tzinfo is None or moment.utcoffset() is None:  # naive
        if fhir:
            raise Rejected(
                f"{element}: a time needs its UTC offset (FHIR requires a time zone when a "
                "time is given), e.g. 2026-11-23T08:15:00Z",
                element,
            )
        raise Rejected("measured_at needs a UTC offset, e.g. 2026-11-23T08:15:00Z")
    if moment > window.latest:
        raise Rejected(f"{element or 'measured_at'} is in the future", element)
    if window.earliest is not None and moment < window.earliest:
        raise Rejected(
            f"{element or 'measured_at'} {moment.isoformat()} is before this patient's "
            f"monitoring window (from {window.earliest.date().isoformat()}); is the device's "
            "clock set?",
            element,
        )
    return moment


def _value(vital: str, raw, unit, *, where: str = "", expression: str = "") -> float:
    where = where or vital
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise Rejected(f"{where}: the value must be a number", expression)
    # Most devices write the unit exactly as listed: one lookup, no folding.
    scale = UNITS[vital].get(unit) if isinstance(unit, str) else None
    if scale is None:
        named = unit_named(vital, unit) if isinstance(unit, str) else None
        if unit is None:
            named = next(iter(UNITS[vital]))
        if named is None:
            raise Rejected(
                f"{where}: unit {unit!r} is not accepted (use {', '.join(UNITS[vital])})",
                expression,
            )
        scale = UNITS[vital][named]
    try:
        value = round(float(raw * scale.scale + scale.offset if scale is not SAME else raw), 2)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise Rejected(f"{where}: the value must be a finite number", expression)
    low, high = PLAUSIBLE[vital]
    if not low <= value <= high:
        raise Rejected(
            f"{where}: {value} {CANONICAL[vital]} is not a possible reading "
            f"({low}-{high} {CANONICAL[vital]})",
            expression,
        )
    return value


# --- The simple form ------------------------------------------------------------------------


def _simple(index: int, item: dict, window: Window) -> list[Parsed]:
    kind = item.get("type") or item.get("vital")
    if not isinstance(kind, str) or kind not in SIMPLE_TYPES:
        raise Rejected(f"unknown type {kind!r} (use {', '.join(SIMPLE_TYPES)})")
    at = _moment(item.get("measured_at"), window)
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


# --- FHIR Observations ----------------------------------------------------------------------


def _codings(concept) -> list[tuple[str, str]]:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return [
        (coding.get("system", ""), coding.get("code", ""))
        for coding in codings
        if isinstance(coding, dict)
    ]


def _vital(concept, path: str) -> str | None:
    """The vital any of a concept's codings names; codings naming two vitals are refused."""
    named = {vital for system, code in _codings(concept) if (vital := vital_of(system, code))}
    if len(named) > 1:
        raise Rejected(
            f"{path}: its codings name different vitals ({', '.join(sorted(named))})", path
        )
    return named.pop() if named else None


def _invalid(error: ValidationError, resource: dict, window: Window) -> Rejected:
    """The first schema error in FHIR's terms: the element's path, never the validator's. A
    time the schema refuses gets the precise reason (no time of day, no UTC offset)."""
    first = error.errors()[0]
    loc = tuple(first.get("loc", ()))
    path = "Observation"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if loc in (("effectiveDateTime",), ("effectiveInstant",), ("effectivePeriod", "start")):
        raw = resource[loc[0]] if len(loc) == 1 else resource["effectivePeriod"]["start"]
        try:
            _moment(raw, window, element=path)
        except Rejected as precise:
            return precise
    kind = first.get("type", "")
    if kind == "missing":
        why = "is required"
    elif kind == "extra_forbidden":
        why = "is not an element of Observation in FHIR R4"
    else:
        why = "does not hold a valid value for its FHIR type"
    return Rejected(f"{path}: {why}", path)


def _identifier(resource: dict) -> str:
    """The first identifier with a value, as "system|value": what names a reading to its
    sender (use, type, period and assigner do not). Too long is refused, never cut: two cut
    identifiers could name the same reading."""
    for n, identifier in enumerate(resource.get("identifier") or []):
        if isinstance(identifier, dict) and identifier.get("value"):
            system, value = identifier.get("system", ""), identifier["value"]
            for element, text in (("system", system), ("value", value)):
                if len(text) > IDENTIFIER_PART_MAX:
                    path = f"Observation.identifier[{n}].{element}"
                    raise Rejected(f"{path}: longer than {IDENTIFIER_PART_MAX} characters", path)
            return f"{system}|{value}"
    return ""


def _time(resource: dict, window: Window) -> datetime:
    """effectiveDateTime, effectiveInstant, effectivePeriod.start, in that order. `issued`
    is when the result was released, never when it was measured."""
    for element in ("effectiveDateTime", "effectiveInstant"):
        if element in resource:
            return _moment(resource[element], window, element=f"Observation.{element}")
    if "effectivePeriod" in resource:
        start = (resource["effectivePeriod"] or {}).get("start")
        if start is None:
            raise Rejected(
                "Observation.effectivePeriod.start: the period has no start, and the start is "
                "when the reading was taken",
                "Observation.effectivePeriod.start",
            )
        return _moment(start, window, element="Observation.effectivePeriod.start")
    if "effectiveTiming" in resource:
        raise Rejected(
            "Observation.effectiveTiming: a schedule is not a time of measurement; send "
            "effectiveDateTime",
            "Observation.effectiveTiming",
        )
    raise Rejected(
        "Observation.effective[x]: the time of measurement is missing (Observation.issued is "
        "when the result was released, not when it was measured)",
        "Observation.effective",
    )


def _absent(element: dict, path: str, what: str) -> None:
    reason = element.get("dataAbsentReason")
    if reason is not None:
        codes = [code for _system, code in _codings(reason) if code] or [reason.get("text", "")]
        raise Rejected(
            f"{path}.dataAbsentReason: the device reports no {what} ({', '.join(codes)})",
            f"{path}.dataAbsentReason",
        )


def _quantity(vital: str, quantity, path: str) -> float:
    if not isinstance(quantity, dict):
        raise Rejected(f"{path}: valueQuantity is missing", path)
    system, code = quantity.get("system"), quantity.get("code")
    if code and system == MDC:
        unit = MDC_UNITS.get(code)
        if unit is None or unit_named(vital, unit) is None:
            raise Rejected(
                f"{path}.code: the 11073 unit {code} is not one accepted for {vital} (use "
                f"{', '.join(c for c, u in MDC_UNITS.items() if unit_named(vital, u))} or UCUM)",
                f"{path}.code",
            )
    elif code and system not in (None, UCUM):
        raise Rejected(
            f"{path}.system: units from {system!r} are not understood; use UCUM "
            f"({UCUM}) or the 11073 nomenclature ({MDC})",
            f"{path}.system",
        )
    else:
        unit = code or quantity.get("unit")
    return _value(vital, quantity.get("value"), unit, where=path, expression=path)


def _observation(index: int, resource: dict, window: Window) -> Item:
    try:
        Observation.model_validate(resource)
    except ValidationError as error:
        raise _invalid(error, resource, window) from error
    identifier = _identifier(resource)
    status = resource.get("status")
    if status == "entered-in-error":
        if not identifier:
            raise Rejected(
                "Observation.identifier: an entered-in-error Observation must carry the "
                "identifier of the reading it withdraws",
                "Observation.identifier",
            )
        return Item(index, retract=identifier)
    concept = resource.get("code")
    panel = any(is_panel(system, code) for system, code in _codings(concept))
    vital = None if panel else _vital(concept, "Observation.code")
    if not panel and vital is None:
        sent = ", ".join(f"{system}|{code}" for system, code in _codings(concept)) or "no coding"
        return Item(
            index,
            ignored=f"Observation.code: not stored, not a vital this service monitors ({sent})",
        )
    if status == "cancelled":
        raise Rejected(
            "Observation.status: cancelled; the measurement was not made", "Observation.status"
        )
    if status == "preliminary" and not window.accept_preliminary:
        raise Rejected(
            "Observation.status: preliminary results are not stored; send the final result",
            "Observation.status",
        )
    if status not in STORED_STATUSES and status != "preliminary":
        raise Rejected(
            f"Observation.status: {status!r} is not a result to store (send final, amended or "
            "corrected)",
            "Observation.status",
        )
    _absent(resource, "Observation", "value")
    at = _time(resource, window)
    if not panel:
        assert vital is not None
        value = _quantity(vital, resource.get("valueQuantity"), "Observation.valueQuantity")
        return Item(
            index,
            readings=[Parsed(index, vital, value, at, identifier)],
            amends=status in AMENDING_STATUSES,
        )
    readings = []
    for n, component in enumerate(resource.get("component") or []):
        path = f"Observation.component[{n}]"
        part = _vital(component.get("code"), f"{path}.code")
        if part not in ("systolic", "diastolic", "heart_rate"):
            continue  # e.g. the mean arterial pressure 11073 cuffs also send
        _absent(component, path, part)
        value = _quantity(part, component.get("valueQuantity"), f"{path}.valueQuantity")
        readings.append(Parsed(index, part, value, at, identifier))
    values = {reading.vital: reading.value for reading in readings}
    if not {"systolic", "diastolic"} <= set(values):
        raise Rejected(
            "Observation.component: a blood pressure panel needs systolic (8480-6) and "
            "diastolic (8462-4) components",
            "Observation.component",
        )
    if values["systolic"] <= values["diastolic"]:
        raise Rejected(
            "Observation.component: systolic must be higher than diastolic",
            "Observation.component",
        )
    return Item(index, readings=readings, amends=status in AMENDING_STATUSES)


def _fhir_item(index: int, resource, window: Window) -> Item:
    if not isinstance(resource, dict):
        raise Rejected("resource: each entry holds a FHIR resource", "resource")
    kind = resource.get("resourceType")
    if kind == "Observation":
        return _observation(index, resource, window)
    if kind in KNOWN_CONTEXT:
        return Item(
            index, ignored=f"{kind}: not stored; the device's token names the patient and device"
        )
    raise Rejected(f"{kind or 'An entry'}: only Observations are accepted here", "resource")


def _entry(index: int, entry, bundle_type: str, window: Window) -> Item:
    if not isinstance(entry, dict):
        raise Rejected("resource: each entry holds a FHIR resource", "resource")
    if bundle_type in ("batch", "transaction") and not isinstance(entry.get("request"), dict):
        path = f"Bundle.entry[{index}].request"
        raise Rejected(
            f"{path}: an entry of a batch or transaction must say its request (FHIR rule bdl-3)",
            path,
            in_entry=True,
        )
    return _fhir_item(index, entry.get("resource"), window)


def _in_bundle(error: Rejected, index: int) -> Rejected:
    """A path inside the resource (Observation.x) as a path inside the Bundle."""
    where = error.expression
    if where.startswith("Bundle."):
        return error
    head, _dot, rest = where.partition(".")
    inside = f"Bundle.entry[{index}].resource" + (f".{rest}" if rest else "")
    return Rejected(str(error), inside if head else f"Bundle.entry[{index}]")


# --- An upload ------------------------------------------------------------------------------


def items_of(payload) -> tuple[list, str, str]:
    """The items of an upload, its form and its Bundle type: a list or {"readings": [...]}
    (simple), a FHIR Observation, or a Bundle of them (its entries, not their resources)."""
    if isinstance(payload, list):
        return payload, "simple", ""
    if isinstance(payload, dict):
        kind = payload.get("resourceType")
        if kind == "Bundle":
            entries = payload.get("entry", [])
            if not isinstance(entries, list):
                raise Rejected("Bundle.entry must be a list of entries.", "Bundle.entry")
            bundle_type = payload.get("type")
            # A Bundle without a known type is answered entry by entry, as a batch is.
            if not isinstance(bundle_type, str) or not bundle_type:
                bundle_type = "collection"
            return entries, "fhir", bundle_type
        if kind == "Observation":
            return [{"resource": payload}], "fhir", ""
        if isinstance(payload.get("readings"), list):
            return payload["readings"], "simple", ""
        if "type" in payload or "vital" in payload:
            return [payload], "simple", ""
    raise Rejected(
        'Send a list of readings, {"readings": [...]}, a FHIR Observation or a Bundle of them.'
    )


def parse(payload, *, window: Window | None = None) -> Upload:
    """What each item asks for. Raises Rejected when the upload as a whole is unusable."""
    window = window or Window(now=timezone.now())
    raw_items, form, bundle_type = items_of(payload)
    if len(raw_items) > MAX_ITEMS:
        raise Rejected(
            f"A batch holds at most {MAX_ITEMS:,} readings; this one has {len(raw_items):,}."
        )
    items = []
    for index, raw in enumerate(raw_items):
        try:
            if form == "fhir":
                items.append(_entry(index, raw, bundle_type, window))
            elif isinstance(raw, dict) and raw.get("resourceType") == "Observation":
                items.append(_observation(index, raw, window))
            elif isinstance(raw, dict):
                items.append(Item(index, readings=_simple(index, raw, window)))
            else:
                raise Rejected("each reading is a JSON object")
        except Rejected as reason:
            if bundle_type and reason.expression:
                reason = _in_bundle(reason, index)
            items.append(Item(index, refused=reason))
    return Upload(form=form, bundle_type=bundle_type, items=items)
