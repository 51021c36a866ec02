"""Readings as FHIR R4 Observations in the US Core vital-signs shape: category vital-signs,
a LOINC code, the patient as subject, the time of measurement with its offset and the value
in UCUM. Pure: the caller passes readings already scoped (rpm.selectors.observations_for,
observation_read) and the patient's reference; nothing here reads the database.

Readings are stored one vital each; a blood pressure is two readings of one device at one
time. It is served as one panel (85354-9, systolic and diastolic components) named by the
systolic reading's id; observations_for attaches the diastolic value to the systolic reading
(`panel_diastolic`) and leaves the paired diastolic reading out. A systolic or diastolic
reading without its partner is served alone under its own code, as it was sent.

The codes emitted are ones rpm.vitals already maps back to the same vital, so rpm's own
ingestion (rpm.ingest) reads every Observation built here as the reading it came from; units
are each vital's canonical UCUM code (the first of rpm.vitals.UNITS) with its display
(rpm.vitals.CANONICAL). A withdrawn reading (rpm.models.WithdrawnReading) is never mapped."""

from dataclasses import dataclass
from typing import Any

from rpm.models import Reading
from rpm.vitals import CANONICAL, LOINC, UCUM, UNITS
from telehealth.fhir.registry import instant

CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS = {
    "coding": [{"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}],
    "text": "Vital Signs",
}


@dataclass(frozen=True)
class Coded:
    """What an Observation of one vital is called: its LOINC codings (US Core's first) and
    the text a reader sees."""

    codings: tuple[tuple[str, str], ...]  # (code, display), all LOINC
    text: str

    @property
    def code(self) -> str:
        return self.codings[0][0]

    def concept(self) -> dict[str, Any]:
        return {
            "coding": [
                {"system": LOINC, "code": code, "display": display}
                for code, display in self.codings
            ],
            "text": self.text,
        }


# The code each vital is served under. Every one is in rpm.vitals.CODES (the panel in
# rpm.vitals.PANELS) with the same vital, which the tests check.
CODED: dict[str, Coded] = {
    "systolic": Coded((("8480-6", "Systolic blood pressure"),), "Systolic blood pressure"),
    "diastolic": Coded((("8462-4", "Diastolic blood pressure"),), "Diastolic blood pressure"),
    "heart_rate": Coded((("8867-4", "Heart rate"),), "Heart rate"),
    "weight": Coded((("29463-7", "Body weight"),), "Body weight"),
    "glucose": Coded((("2339-0", "Glucose [Mass/volume] in Blood"),), "Glucose"),
    # US Core pulse oximetry: the pulse oximetry code and the oxygen saturation code, both.
    "spo2": Coded(
        (
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            ("2708-6", "Oxygen saturation in Arterial blood"),
        ),
        "Oxygen saturation",
    ),
    "temperature": Coded((("8310-5", "Body temperature"),), "Body temperature"),
}
BLOOD_PRESSURE = Coded(
    (("85354-9", "Blood pressure panel with all children optional"),), "Blood pressure"
)


def ucum_code(vital: str) -> str:
    """The canonical unit's UCUM code: the first unit rpm.vitals accepts for the vital."""
    return next(iter(UNITS[vital]))


def quantity(vital: str, value: float) -> dict[str, Any]:
    return {"value": value, "unit": CANONICAL[vital], "system": UCUM, "code": ucum_code(vital)}


def _identifier(stored: str) -> list[dict[str, str]]:
    """The sender's identifier ("system|value"), so an amending device can name it again."""
    if not stored:
        return []
    system, _bar, value = stored.rpartition("|")
    identifier = {"value": value}
    if system:
        identifier["system"] = system
    return [identifier]


def observation_from_reading(
    reading: Reading, *, patient_reference: str, diastolic: float | None = None
) -> dict[str, Any]:
    """The reading as an Observation: a JSON-ready dict, in the form and element order the R4B
    model writes (the FHIR tests validate every served resource against it). For a
    systolic reading, `diastolic` (else the `panel_diastolic` observations_for attaches) makes
    it a blood pressure panel."""
    if not isinstance(reading, Reading):
        raise TypeError(f"only stored readings are served, not {type(reading).__name__}")
    if diastolic is None:
        diastolic = getattr(reading, "panel_diastolic", None)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(reading.pk),
        "meta": {"lastUpdated": instant(reading.received_at)},
    }
    identifier = _identifier(reading.identifier)
    if identifier:
        resource["identifier"] = identifier
    resource |= {"status": "final", "category": [VITAL_SIGNS]}
    panel = reading.vital == "systolic" and diastolic is not None
    if panel:
        assert diastolic is not None
        resource["code"] = BLOOD_PRESSURE.concept()
    else:
        resource["code"] = CODED[reading.vital].concept()
    resource["subject"] = {"reference": patient_reference}
    resource["effectiveDateTime"] = instant(reading.measured_at)
    if not panel:
        resource["valueQuantity"] = quantity(reading.vital, reading.value)
    resource["device"] = {"display": str(reading.device)}
    if panel:
        assert diastolic is not None
        resource["component"] = [
            {"code": CODED[part].concept(), "valueQuantity": quantity(part, value)}
            for part, value in (("systolic", reading.value), ("diastolic", diastolic))
        ]
    return resource


def vitals_for_code(token: str) -> tuple[set[str], bool | None]:
    """What a search by `code` finds: the vitals and, for blood pressure readings, whether
    they are the panel (True), a lone systolic or diastolic (False) or either (None). `token`
    is FHIR's token form: "code", "system|code" or "|code"; only codes served here match, so
    a search finds exactly the Observations that carry the code."""
    system, bar, code = token.rpartition("|")
    if bar and system != LOINC:
        return set(), None
    if code == BLOOD_PRESSURE.code:
        return {"systolic"}, True
    vitals = {vital for vital, coded in CODED.items() if code in dict(coded.codings)}
    if vitals & {"systolic", "diastolic"}:
        return vitals, False
    return vitals, None
