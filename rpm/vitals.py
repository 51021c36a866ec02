"""What a device's codes and units mean: the codings that name each vital (LOINC and the
IEEE 11073 nomenclature that personal health devices use), the units each vital may come in
and their conversion to the canonical unit we store.

Every MDC code here appears with that meaning in the HL7 Personal Health Device guide's
examples (tests/fixtures/phd) or in the FHIR specification's own examples; MDC unit codes
are the ones 11073 devices send (262688 MDC_DIM_PERCENT, 264864 MDC_DIM_BEAT_PER_MIN, 266016
MDC_DIM_MMHG, 263875 MDC_DIM_KILO_G)."""

import re
from dataclasses import dataclass

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"

# (system, code) -> vital. Several codes name one vital: a device picks the most specific
# LOINC it knows (pulse oximetry, capillary blood by meter) or its MDC term.
CODES: dict[tuple[str, str], str] = {
    (LOINC, "8480-6"): "systolic",
    (MDC, "150021"): "systolic",  # MDC_PRESS_BLD_NONINV_SYS
    (LOINC, "8462-4"): "diastolic",
    (MDC, "150022"): "diastolic",  # MDC_PRESS_BLD_NONINV_DIA
    (LOINC, "8867-4"): "heart_rate",
    (LOINC, "8889-8"): "heart_rate",  # heart rate by pulse oximetry
    (MDC, "149530"): "heart_rate",  # MDC_PULS_OXIM_PULS_RATE
    (MDC, "149546"): "heart_rate",  # MDC_PULS_RATE_NON_INV (blood pressure cuffs)
    (LOINC, "29463-7"): "weight",
    (LOINC, "3141-9"): "weight",  # body weight, measured
    (MDC, "188736"): "weight",  # MDC_MASS_BODY_ACTUAL
    (LOINC, "2339-0"): "glucose",  # mass/volume in blood
    (LOINC, "15074-8"): "glucose",  # moles/volume in blood
    (LOINC, "41653-7"): "glucose",  # mass/volume in capillary blood by glucometer
    (LOINC, "14743-9"): "glucose",  # moles/volume in capillary blood by glucometer
    (MDC, "160368"): "glucose",  # MDC_CONC_GLU_UNDETERMINED_PLASMA
    (MDC, "160184"): "glucose",  # MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD
    (LOINC, "2708-6"): "spo2",
    (LOINC, "59408-5"): "spo2",  # by pulse oximetry
    (MDC, "150456"): "spo2",  # MDC_PULS_OXIM_SAT_O2
    (LOINC, "8310-5"): "temperature",
    (LOINC, "8331-1"): "temperature",  # oral
    (LOINC, "8328-7"): "temperature",  # axillary
    (LOINC, "8333-7"): "temperature",  # tympanic membrane
    (MDC, "150364"): "temperature",  # MDC_TEMP_BODY
}
# A blood pressure panel: its components carry systolic and diastolic.
PANELS: frozenset[tuple[str, str]] = frozenset(
    {
        (LOINC, "85354-9"),  # panel with all children optional
        (LOINC, "55284-4"),  # systolic and diastolic
        (MDC, "150020"),  # MDC_PRESS_BLD_NONINV
    }
)
MDC_UNITS: dict[str, str] = {
    "262688": "%",
    "264864": "/min",
    "266016": "mm[Hg]",
    "263875": "kg",
}


@dataclass(frozen=True)
class Unit:
    """canonical = value * scale + offset"""

    scale: float = 1.0
    offset: float = 0.0


SAME = Unit()
POUND = Unit(0.45359237)
FAHRENHEIT = Unit(5 / 9, -32 * 5 / 9)
GLUCOSE_MMOL = Unit(18.0182)  # mg/dL per mmol/L (molar mass of glucose 180.182 g/mol)

# Units each vital accepts: UCUM codes first, then the spellings devices write.
UNITS: dict[str, dict[str, Unit]] = {
    "systolic": {"mm[Hg]": SAME, "mmHg": SAME},
    "diastolic": {"mm[Hg]": SAME, "mmHg": SAME},
    "heart_rate": {"/min": SAME, "bpm": SAME, "beats/min": SAME},
    "weight": {"kg": SAME, "g": Unit(0.001), "[lb_av]": POUND, "lb": POUND},
    "glucose": {"mg/dL": SAME, "mmol/L": GLUCOSE_MMOL},
    "spo2": {"%": SAME},
    "temperature": {"Cel": SAME, "°C": SAME, "C": SAME, "[degF]": FAHRENHEIT, "°F": FAHRENHEIT},
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
_FOLDED = {vital: {unit.lower(): unit for unit in units} for vital, units in UNITS.items()}
_ANNOTATION = re.compile(r"\{[^{}]*\}")


def vital_of(system: str, code: str) -> str | None:
    return CODES.get((system, code))


def is_panel(system: str, code: str) -> bool:
    return (system, code) in PANELS


def unit_named(vital: str, written: str) -> str | None:
    """The accepted unit a device meant, or None. UCUM annotations carry no meaning
    ({beat}/min is /min), 1/min is /min, and devices write mg/dl for mg/dL: case is folded,
    which joins no two accepted units of one vital."""
    bare = _ANNOTATION.sub("", written).strip()
    if bare.startswith("1/"):
        bare = bare[1:]
    if not bare and written:
        return None
    return _FOLDED[vital].get(bare.lower())


def convert(vital: str, value: float, *, unit: str, to: str | None = None) -> float:
    """value in `unit` expressed in `to` (the canonical unit when not given)."""
    canonical = value * UNITS[vital][unit].scale + UNITS[vital][unit].offset
    if to is None:
        return canonical
    target = UNITS[vital][to]
    return (canonical - target.offset) / target.scale
