"""Reading 835 remittance advice, ASC X12 005010X221A1.

The file is first validated by pyx12; an invalid file is refused with its errors. Then the
loops we use are read in order:

- Header: BPR (total paid, method, date), TRN (check or EFT trace number, payer id).
- 1000A payer (N1*PR) and 1000B payee (N1*PE).
- 2100 claim payment (CLP: our CLM01 claim id, status, charged, paid, patient
  responsibility, the payer's claim control number), with claim-level CAS adjustments and
  MOA remarks.
- 2110 service payment (SVC: procedure and modifiers, charged, paid, units, and in SVC06 the
  procedure as submitted when the payer adjudicated another), its date (DTM),
  adjustments (CAS: group, CARC, amount) and remarks (LQ*HE: RARC).

Provider-level adjustments (PLB) are not carried: they concern the payee's account, not a
claim line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from .codes import carc_description, group_description, rarc_description
from .validate import X12ValidationError, validate

CLAIM_STATUSES = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to another payer",
    "20": "processed as secondary, forwarded to another payer",
    "21": "processed as tertiary, forwarded to another payer",
    "22": "reversal of an earlier payment",
    "23": "not our claim, forwarded to another payer",
    "25": "predetermination only, no payment",
}


@dataclass(frozen=True)
class Adjustment:
    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None

    @property
    def description(self) -> str:
        return f"{carc_description(self.reason)} ({group_description(self.group)})"


@dataclass(frozen=True)
class RemittanceLine:
    procedure_code: str
    modifiers: tuple[str, ...]
    charged: Decimal
    paid: Decimal
    units: Decimal
    service_date: dt.date | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    # SVC06: the procedure and modifiers as the claim sent them, given only when the payer
    # adjudicated the line under another code or modifiers (SVC01 then holds the payer's).
    submitted_procedure_code: str = ""
    submitted_modifiers: tuple[str, ...] = ()

    @property
    def remark_descriptions(self) -> tuple[str, ...]:
        return tuple(rarc_description(code) for code in self.remarks)

    @property
    def as_submitted(self) -> tuple[str, tuple[str, ...]]:
        """The procedure code and modifiers of the claim line this answers."""
        if self.submitted_procedure_code:
            return self.submitted_procedure_code, self.submitted_modifiers
        return self.procedure_code, self.modifiers

    @property
    def is_denied(self) -> bool:
        return self.paid == 0 and self.charged > 0


@dataclass(frozen=True)
class RemittanceClaim:
    claim_id: str
    status_code: str
    charged: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    payer_claim_control_number: str
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    lines: tuple[RemittanceLine, ...] = ()

    @property
    def remark_descriptions(self) -> tuple[str, ...]:
        return tuple(rarc_description(code) for code in self.remarks)

    @property
    def status(self) -> str:
        return CLAIM_STATUSES.get(self.status_code, f"unknown claim status {self.status_code}")


@dataclass(frozen=True)
class Remittance:
    payer_name: str
    payer_identifier: str
    payee_name: str
    payee_identifier: str
    payment_method: str
    check_number: str
    payment_date: dt.date
    total_paid: Decimal
    claims: tuple[RemittanceClaim, ...]


@dataclass
class _LineDraft:
    fields: list[str]
    service_date: dt.date | None = None
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)


@dataclass
class _ClaimDraft:
    fields: list[str]
    adjustments: list[Adjustment] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    lines: list[RemittanceLine] = field(default_factory=list)


@dataclass
class _Reading:
    """What has been read so far; a claim or line is built when the next one starts."""

    component: str
    header: dict[str, str] = field(default_factory=dict)
    claims: list[RemittanceClaim] = field(default_factory=list)
    claim: _ClaimDraft | None = None
    line: _LineDraft | None = None


def parse_835(text: str) -> Remittance:
    """The remittance in `text`, a file holding one payment (one ST/SE transaction set).
    Raises X12ValidationError when pyx12 finds errors, ValueError for a file of several
    payments (read those with `parse_835_payments`)."""
    payments = parse_835_payments(text)
    if len(payments) != 1:
        raise ValueError(
            f"The file holds {len(payments)} payments; read it with parse_835_payments."
        )
    return payments[0]


def parse_835_payments(text: str) -> list[Remittance]:
    """Every payment in `text`, one per ST/SE transaction set (a clearinghouse may put the
    checks of several payers in one file). Raises X12ValidationError when pyx12 finds errors."""
    errors = validate(text)
    if errors:
        raise X12ValidationError(errors)
    element, component, terminator = _delimiters(text)
    payments = []
    reading = _Reading(component=component)
    for raw in text.split(terminator):
        fields = raw.strip().split(element)
        if fields[0] == "ST":
            reading = _Reading(component=component)
        elif fields[0] == "SE":
            _close_claim(reading)
            payments.append(_remittance(reading))
        elif fields[0]:
            _read_segment(reading, fields)
    return payments


def _remittance(reading: _Reading) -> Remittance:
    header = reading.header
    return Remittance(
        payer_name=header.get("payer_name", ""),
        payer_identifier=header.get("payer_identifier", ""),
        payee_name=header.get("payee_name", ""),
        payee_identifier=header.get("payee_identifier", ""),
        payment_method=header["payment_method"],
        check_number=header.get("check_number", ""),
        payment_date=_date(header["payment_date"]),
        total_paid=Decimal(header["total_paid"]),
        claims=tuple(reading.claims),
    )


def _delimiters(text: str) -> tuple[str, str, str]:
    """Element, component and segment delimiters, as declared by the ISA segment."""
    isa = text.lstrip()[:106]
    element = isa[3]
    return element, isa.split(element)[16][0], isa[105]


def _read_segment(reading: _Reading, fields: list[str]) -> None:
    tag, qualifier = fields[0], _at(fields, 1)
    if tag == "BPR":
        reading.header.update(
            total_paid=fields[2], payment_method=fields[4], payment_date=fields[16]
        )
    elif tag == "TRN":
        reading.header.update(check_number=fields[2], payer_identifier=_at(fields, 3))
    elif tag == "N1" and qualifier == "PR":
        reading.header["payer_name"] = fields[2]
    elif tag == "N1" and qualifier == "PE":
        reading.header.update(payee_name=fields[2], payee_identifier=_at(fields, 4))
    elif tag == "CLP":
        _close_claim(reading)
        reading.claim = _ClaimDraft(fields=fields)
    elif tag == "SVC":
        _close_line(reading)
        reading.line = _LineDraft(fields=fields)
    elif tag == "DTM" and reading.line is not None and qualifier in {"472", "150"}:
        reading.line.service_date = _date(fields[2])
    elif tag == "CAS" and reading.line is not None:
        reading.line.adjustments += _adjustments(fields)
    elif tag == "CAS" and reading.claim is not None:
        reading.claim.adjustments += _adjustments(fields)
    elif tag == "MOA" and reading.claim is not None:
        # MOA03..MOA07: remark codes about the whole claim (outpatient adjudication).
        reading.claim.remarks += [code for code in fields[3:8] if code]
    elif tag == "LQ" and reading.line is not None and qualifier == "HE":
        reading.line.remarks.append(fields[2])


def _close_line(reading: _Reading) -> None:
    draft = reading.line
    if draft is None or reading.claim is None:
        return
    fields = draft.fields
    # SVC01: qualifier (HC), procedure code, then up to four modifiers.
    procedure = fields[1].split(reading.component)
    # SVC06, when present: the procedure as submitted, in the same composite form.
    submitted = _at(fields, 6).split(reading.component)
    reading.claim.lines.append(
        RemittanceLine(
            procedure_code=_at(procedure, 1),
            modifiers=tuple(procedure[2:6]),
            submitted_procedure_code=_at(submitted, 1),
            submitted_modifiers=tuple(submitted[2:6]),
            charged=Decimal(fields[2]),
            paid=Decimal(fields[3]),
            units=Decimal(_at(fields, 5) or "1"),
            service_date=draft.service_date,
            adjustments=tuple(draft.adjustments),
            remarks=tuple(draft.remarks),
        )
    )
    reading.line = None


def _close_claim(reading: _Reading) -> None:
    _close_line(reading)
    draft = reading.claim
    if draft is None:
        return
    fields = draft.fields
    reading.claims.append(
        RemittanceClaim(
            claim_id=fields[1],
            status_code=fields[2],
            charged=Decimal(fields[3]),
            paid=Decimal(fields[4]),
            patient_responsibility=Decimal(_at(fields, 5) or "0"),
            payer_claim_control_number=_at(fields, 7),
            adjustments=tuple(draft.adjustments),
            remarks=tuple(draft.remarks),
            lines=tuple(draft.lines),
        )
    )
    reading.claim = None


def _adjustments(fields: list[str]) -> list[Adjustment]:
    """CAS carries one group and up to six (reason, amount, quantity) triples."""
    group = fields[1]
    adjustments = []
    for start in range(2, len(fields), 3):
        reason, value, count = (fields[start : start + 3] + ["", "", ""])[:3]
        if reason:
            adjustments.append(
                Adjustment(
                    group=group,
                    reason=reason,
                    amount=Decimal(value),
                    quantity=Decimal(count) if count else None,
                )
            )
    return adjustments


def _at(fields: list[str], index: int) -> str:
    return fields[index] if index < len(fields) else ""


def _date(ccyymmdd: str) -> dt.date:
    return dt.date(int(ccyymmdd[:4]), int(ccyymmdd[4:6]), int(ccyymmdd[6:8]))
