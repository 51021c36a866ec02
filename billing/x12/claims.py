"""837P professional claims, ASC X12 005010X222A1.

Plain frozen dataclasses in, X12 text out; no database. The loops written, in order, named
as in the implementation guide:

- Header: BHT (0019 / 00 original / CH chargeable).
- 1000A submitter (NM1*41, PER*IC) and 1000B receiver (NM1*40).
- 2000A billing provider hierarchical level (HL..20) with 2010AA (NM1*85, N3, N4, REF*EI).
  One 2000A per distinct billing provider in the batch.
- 2000B subscriber (HL..22, SBR) with 2010BA subscriber (NM1*IL, N3, N4, DMG) and
  2010BB payer (NM1*PR). One 2000B per claim, which the guide allows and keeps each claim's
  hierarchy self-contained.
- 2000C patient (HL..23, PAT) with 2010CA (NM1*QC, N3, N4, DMG), only when the patient is
  not the subscriber; the claim then sits under 2000C instead of 2000B.
- 2300 claim (CLM with place of service and frequency code; REF*F8 the payer's claim
  number when replacing (7) or voiding (8) a claim; HI with the ABK principal then ABF other
  diagnoses, at most 12).
- 2310B rendering provider (NM1*82, PRV*PE), only when it differs from the billing provider.
- 2400 service lines (LX, SV1, DTP*472).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from .envelope import (
    X12InputError,
    amount,
    ccyymmdd,
    checked_text,
    composite,
    interchange,
    optional_text,
    quantity,
    segment,
)

GUIDE_837P = "005010X222A1"
MAX_DIAGNOSES = 12
MAX_POINTERS = 4
MAX_MODIFIERS = 4
MAX_LINES = 50
REPLACING_FREQUENCIES = {"7", "8"}
SEXES = {"M", "F", "U"}
# Patient's relationship to the subscriber (PAT01 / SBR02): 18 is "self".
SELF = "18"
_NPI = re.compile(r"\d{10}")
_EIN = re.compile(r"\d{9}")
_ICD10CM = re.compile(r"[A-TV-Z][0-9][0-9A-Z]{1,5}")
_PROCEDURE = re.compile(r"[0-9A-Z]{5}")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")
_POS = re.compile(r"\d{2}")


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    line2: str = ""


@dataclass(frozen=True)
class Submitter:
    name: str
    identifier: str
    contact_name: str
    contact_phone: str


@dataclass(frozen=True)
class Receiver:
    name: str
    identifier: str


@dataclass(frozen=True)
class BillingProvider:
    name: str
    npi: str
    ein: str
    address: Address
    taxonomy: str = ""


@dataclass(frozen=True)
class RenderingProvider:
    last_name: str
    first_name: str
    npi: str
    taxonomy: str = ""


@dataclass(frozen=True)
class Subscriber:
    payer_name: str
    payer_id: str
    member_id: str
    last_name: str
    first_name: str
    birth_date: dt.date
    sex: str
    address: Address
    group_number: str = ""
    # SBR09 / CLP06: CI commercial, MB Medicare part B, MC Medicaid, 12 PPO...
    claim_filing_code: str = "CI"


@dataclass(frozen=True)
class Patient:
    """The patient when not the subscriber; `relationship` is PAT01 (01 spouse, 19 child,
    G8 other relationship)."""

    last_name: str
    first_name: str
    birth_date: dt.date
    sex: str
    address: Address
    relationship: str


@dataclass(frozen=True)
class ServiceLine:
    procedure_code: str
    charge: Decimal
    service_date: dt.date
    diagnosis_pointers: tuple[int, ...]
    units: Decimal = Decimal(1)
    modifiers: tuple[str, ...] = ()
    # Blank: the claim's place of service applies (SV105 is then omitted).
    place_of_service: str = ""


@dataclass(frozen=True)
class Claim:
    claim_id: str
    billing_provider: BillingProvider
    subscriber: Subscriber
    diagnosis_codes: tuple[str, ...]
    lines: tuple[ServiceLine, ...]
    place_of_service: str
    rendering_provider: RenderingProvider | None = None
    patient: Patient | None = None
    # CLM05-3: 1 original, 7 replacement, 8 void; 7 and 8 name the payer's claim number.
    frequency_code: str = "1"
    payer_claim_control_number: str = ""

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class ClaimBatch:
    submitter: Submitter
    receiver: Receiver
    claims: tuple[Claim, ...]
    production: bool = True
    reference: str = ""


def claim_batch_837p(batch: ClaimBatch, *, control_number: int, now: dt.datetime) -> str:
    """The batch as one 837P interchange. Raises X12InputError naming the claim and field
    for anything that cannot be written as valid X12."""
    if not batch.claims:
        raise X12InputError("A claim batch needs at least one claim.")
    body = [
        *_header(batch, control_number=control_number, now=now),
        *_hierarchy(batch.claims),
    ]
    return interchange(
        sender_id=batch.submitter.identifier,
        receiver_id=batch.receiver.identifier,
        functional_id="HC",
        transaction_set_id="837",
        guide_version=GUIDE_837P,
        body=body,
        control_number=control_number,
        now=now,
        guide_in_st=True,
        production=batch.production,
    )


def _header(batch: ClaimBatch, *, control_number: int, now: dt.datetime) -> list[str]:
    submitter, receiver = batch.submitter, batch.receiver
    reference = optional_text(batch.reference, field="Batch reference") or str(control_number)
    return [
        segment("BHT", "0019", "00", reference, ccyymmdd(now.date()), now.strftime("%H%M"), "CH"),
        segment(
            "NM1", "41", "2", checked_text(submitter.name, field="Submitter name"),
            "", "", "", "", "46", checked_text(submitter.identifier, field="Submitter id"),
        ),
        segment(
            "PER", "IC", checked_text(submitter.contact_name, field="Submitter contact"),
            "TE", _digits(submitter.contact_phone, field="Submitter phone"),
        ),
        segment(
            "NM1", "40", "2", checked_text(receiver.name, field="Receiver name"),
            "", "", "", "", "46", checked_text(receiver.identifier, field="Receiver id"),
        ),
    ]  # fmt: skip


def _hierarchy(claims: tuple[Claim, ...]) -> Iterator[str]:
    """HL levels numbered in order: each billing provider, then its claims' subscribers
    (and patients)."""
    by_provider: dict[BillingProvider, list[Claim]] = {}
    for claim in claims:
        by_provider.setdefault(claim.billing_provider, []).append(claim)
    hl = 0
    for provider, provider_claims in by_provider.items():
        hl += 1
        provider_hl = hl
        yield segment("HL", str(provider_hl), "", "20", "1")
        yield from _billing_provider(provider)
        for claim in provider_claims:
            hl += 1
            subscriber_hl = hl
            has_patient = claim.patient is not None
            yield segment(
                "HL", str(subscriber_hl), str(provider_hl), "22", "1" if has_patient else "0"
            )
            yield from _subscriber(claim)
            if claim.patient is not None:
                hl += 1
                yield segment("HL", str(hl), str(subscriber_hl), "23", "0")
                yield from _patient(claim.patient, claim_id=claim.claim_id)
            yield from _claim(claim)


def _billing_provider(provider: BillingProvider) -> list[str]:
    """Loop 2010AA. The guide wants the billing provider's ZIP code with all nine digits."""
    name = checked_text(provider.name, field="Billing provider name")
    segments = []
    if provider.taxonomy:
        segments.append(segment("PRV", "BI", "PXC", _taxonomy(provider.taxonomy)))
    segments += [
        segment("NM1", "85", "2", name, "", "", "", "", "XX", _npi(provider.npi, field=name)),
        *_address(provider.address, field=f"Billing provider {name}", zip9=True),
        segment("REF", "EI", _ein(provider.ein, field=name)),
    ]
    return segments


def _subscriber(claim: Claim) -> list[str]:
    """Loops 2000B (SBR), 2010BA and 2010BB."""
    subscriber = claim.subscriber
    where = f"Claim {claim.claim_id}: subscriber"
    is_patient = claim.patient is None
    segments = [
        segment(
            "SBR", "P", SELF if is_patient else "",
            optional_text(subscriber.group_number, field=f"{where} group number"),
            "", "", "", "", "",
            _code(subscriber.claim_filing_code, field=f"{where} claim filing code"),
        ),
        segment(
            "NM1", "IL", "1", checked_text(subscriber.last_name, field=f"{where} last name"),
            checked_text(subscriber.first_name, field=f"{where} first name"),
            "", "", "", "MI", checked_text(subscriber.member_id, field=f"{where} member id"),
        ),
        *_address(subscriber.address, field=where),
        _demographics(subscriber.birth_date, subscriber.sex, field=where),
        segment(
            "NM1", "PR", "2", checked_text(subscriber.payer_name, field=f"{where} payer name"),
            "", "", "", "", "PI", checked_text(subscriber.payer_id, field=f"{where} payer id"),
        ),
    ]  # fmt: skip
    return segments


def _patient(patient: Patient, *, claim_id: str) -> list[str]:
    """Loops 2000C (PAT) and 2010CA."""
    where = f"Claim {claim_id}: patient"
    if patient.relationship == SELF:
        raise X12InputError(f"{where} is the subscriber; leave the patient out instead.")
    return [
        segment("PAT", _code(patient.relationship, field=f"{where} relationship")),
        segment(
            "NM1",
            "QC",
            "1",
            checked_text(patient.last_name, field=f"{where} last name"),
            checked_text(patient.first_name, field=f"{where} first name"),
        ),
        *_address(patient.address, field=where),
        _demographics(patient.birth_date, patient.sex, field=where),
    ]


def _claim(claim: Claim) -> list[str]:
    """Loops 2300, 2310B and 2400."""
    where = f"Claim {claim.claim_id}"
    claim_id = checked_text(claim.claim_id, field="Claim id")
    if len(claim_id) > 20:
        raise X12InputError(f"{where}: the claim id is longer than 20 characters.")
    if not claim.lines:
        raise X12InputError(f"{where} has no service lines.")
    if len(claim.lines) > MAX_LINES:
        raise X12InputError(f"{where} has {len(claim.lines)} lines; the most is {MAX_LINES}.")
    place = _place_of_service(claim.place_of_service, field=where)
    frequency = _code(claim.frequency_code, field=f"{where} frequency code")
    segments = [
        segment(
            "CLM", claim_id, amount(claim.total_charge), "", "",
            composite(place, "B", frequency), "Y", "A", "Y", "Y",
        ),
        *_original_claim(claim, frequency=frequency, field=where),
        _diagnoses(claim.diagnosis_codes, field=where),
    ]  # fmt: skip
    rendering = claim.rendering_provider
    if rendering is not None and rendering.npi != claim.billing_provider.npi:
        segments += _rendering_provider(rendering, field=where)
    for number, line in enumerate(claim.lines, start=1):
        segments += _service_line(
            line,
            number=number,
            claim_place=place,
            diagnosis_count=len(claim.diagnosis_codes),
            field=f"{where} line {number}",
        )
    return segments


def _original_claim(claim: Claim, *, frequency: str, field: str) -> list[str]:
    if frequency not in REPLACING_FREQUENCIES:
        return []
    if not claim.payer_claim_control_number.strip():
        raise X12InputError(
            f"{field} replaces or voids a claim (frequency {frequency}) but does not name the "
            "payer's claim control number."
        )
    number = checked_text(claim.payer_claim_control_number, field=f"{field} payer claim number")
    return [segment("REF", "F8", number)]


def _diagnoses(codes: tuple[str, ...], *, field: str) -> str:
    if not codes:
        raise X12InputError(f"{field} has no diagnosis.")
    if len(codes) > MAX_DIAGNOSES:
        raise X12InputError(f"{field} has {len(codes)} diagnoses; the most is {MAX_DIAGNOSES}.")
    elements = [
        composite("ABK" if position == 0 else "ABF", _icd10cm(code, field=field))
        for position, code in enumerate(codes)
    ]
    return segment("HI", *elements)


def _rendering_provider(provider: RenderingProvider, *, field: str) -> list[str]:
    where = f"{field} rendering provider"
    segments = [
        segment(
            "NM1", "82", "1", checked_text(provider.last_name, field=f"{where} last name"),
            checked_text(provider.first_name, field=f"{where} first name"),
            "", "", "", "XX", _npi(provider.npi, field=where),
        ),
    ]  # fmt: skip
    if provider.taxonomy:
        segments.append(segment("PRV", "PE", "PXC", _taxonomy(provider.taxonomy)))
    return segments


def _service_line(
    line: ServiceLine, *, number: int, claim_place: str, diagnosis_count: int, field: str
) -> list[str]:
    if line.charge <= 0:
        raise X12InputError(f"{field}: the charge must be more than zero.")
    if line.units <= 0:
        raise X12InputError(f"{field}: the units must be more than zero.")
    line_place = (
        _place_of_service(line.place_of_service, field=field) if line.place_of_service else ""
    )
    procedure = composite(
        "HC", _procedure(line.procedure_code, field=field), *_modifiers(line.modifiers, field=field)
    )
    return [
        segment("LX", str(number)),
        segment(
            "SV1", procedure, amount(line.charge), "UN", quantity(line.units),
            "" if line_place == claim_place else line_place, "",
            _pointers(line.diagnosis_pointers, diagnosis_count=diagnosis_count, field=field),
        ),
        segment("DTP", "472", "D8", ccyymmdd(line.service_date)),
    ]  # fmt: skip


def _pointers(pointers: tuple[int, ...], *, diagnosis_count: int, field: str) -> str:
    if not 1 <= len(pointers) <= MAX_POINTERS:
        raise X12InputError(f"{field} needs 1 to {MAX_POINTERS} diagnosis pointers.")
    for pointer in pointers:
        if not 1 <= pointer <= diagnosis_count:
            raise X12InputError(
                f"{field}: diagnosis pointer {pointer} points past the {diagnosis_count} "
                "diagnoses of the claim."
            )
    return composite(*(str(pointer) for pointer in pointers))


def _modifiers(modifiers: tuple[str, ...], *, field: str) -> list[str]:
    if len(modifiers) > MAX_MODIFIERS:
        raise X12InputError(f"{field} has {len(modifiers)} modifiers; the most is {MAX_MODIFIERS}.")
    return [_matching(_MODIFIER, modifier, field=f"{field} modifier") for modifier in modifiers]


def _address(address: Address, *, field: str, zip9: bool = False) -> list[str]:
    postal = _digits(address.postal_code, field=f"{field} ZIP code")
    if len(postal) not in ((9,) if zip9 else (5, 9)):
        raise X12InputError(
            f"{field} ZIP code {address.postal_code!r} must have "
            f"{'9' if zip9 else '5 or 9'} digits."
        )
    return [
        segment(
            "N3", checked_text(address.line1, field=f"{field} address"),
            optional_text(address.line2, field=f"{field} address line 2"),
        ),
        segment(
            "N4", checked_text(address.city, field=f"{field} city"),
            _matching(re.compile(r"[A-Z]{2}"), address.state, field=f"{field} state"), postal,
        ),
    ]  # fmt: skip


def _demographics(birth_date: dt.date, sex: str, *, field: str) -> str:
    if sex not in SEXES:
        raise X12InputError(f"{field} sex {sex!r} must be one of {', '.join(sorted(SEXES))}.")
    return segment("DMG", "D8", ccyymmdd(birth_date), sex)


def _icd10cm(code: str, *, field: str) -> str:
    """ICD-10-CM goes without its dot in HI (E11.9 is sent as E119)."""
    return _matching(_ICD10CM, code.replace(".", ""), field=f"{field} diagnosis")


def _procedure(code: str, *, field: str) -> str:
    return _matching(_PROCEDURE, code, field=f"{field} procedure code")


def _place_of_service(code: str, *, field: str) -> str:
    return _matching(_POS, code, field=f"{field} place of service")


def _npi(value: str, *, field: str) -> str:
    npi = _matching(_NPI, value, field=f"{field} NPI")
    if not _npi_check_digit_matches(npi):
        raise X12InputError(f"{field} NPI {value!r} has a wrong check digit.")
    return npi


def _npi_check_digit_matches(npi: str) -> bool:
    """The NPI's tenth digit is a Luhn check digit over 80840 (the US health prefix) and the
    first nine digits."""
    total = 0
    for position, char in enumerate(reversed("80840" + npi[:9])):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10 == int(npi[9])


def _ein(value: str, *, field: str) -> str:
    return _matching(_EIN, value.replace("-", ""), field=f"{field} EIN")


def _taxonomy(value: str) -> str:
    return _matching(re.compile(r"[0-9A-Z]{9}X"), value, field="Taxonomy code")


def _code(value: str, *, field: str) -> str:
    return _matching(re.compile(r"[0-9A-Z]{1,3}"), value, field=field)


def _digits(value: str, *, field: str) -> str:
    digits = "".join(char for char in value if char.isdigit())
    if not digits:
        raise X12InputError(f"{field} {value!r} has no digits.")
    return digits


def _matching(pattern: re.Pattern[str], value: str, *, field: str) -> str:
    text = value.strip().upper()
    if not pattern.fullmatch(text):
        raise X12InputError(f"{field} {value!r} is not valid.")
    return text
