"""Writing 835 remittance advice (ASC X12 005010X221A1) for claims we sent, as a payer
would: for tests, demonstrations and a sandbox clearinghouse, so that an 837P batch can be
followed through to its payment.

Loops written: header BPR, TRN, DTM*405; 1000A payer (N1*PR, N3, N4, PER*BL); 1000B payee
(N1*PE with the NPI); 2000 (LX); 2100 claim (CLP, NM1*QC, MOA); 2110 lines (SVC, DTM*472, CAS,
LQ*HE). Every line must balance: charge = paid + adjustments, as the guide requires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .claims import Address, Claim, ServiceLine
from .envelope import (
    X12InputError,
    amount,
    ccyymmdd,
    checked_text,
    composite,
    interchange,
    quantity,
    segment,
)
from .remittance import Adjustment

GUIDE_835 = "005010X221A1"
PATIENT_RESPONSIBILITY = "PR"
MAX_ADJUSTMENTS_PER_CAS = 6
# CLP06 takes fewer claim filing codes than the 837P's SBR09 (no CI, no BL): the others are
# reported as ZZ, mutually defined.
CLP06_CODES = {
    *("12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC"),
    *("OF", "TV", "VA", "WC"),
}


@dataclass(frozen=True)
class Payer:
    name: str
    # TRN03: "1" followed by the payer's nine-digit EIN.
    identifier: str
    address: Address
    contact_phone: str


@dataclass(frozen=True)
class Payee:
    name: str
    npi: str


@dataclass(frozen=True)
class LinePayment:
    paid: Decimal
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimPayment:
    """How the payer settled `claim`: one LinePayment per claim line, in the same order."""

    claim: Claim
    payer_claim_control_number: str
    lines: tuple[LinePayment, ...]
    # RARCs about the whole claim, sent in MOA (at most five).
    remarks: tuple[str, ...] = ()

    @property
    def paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), Decimal(0))

    @property
    def patient_responsibility(self) -> Decimal:
        return sum(
            (
                adjustment.amount
                for line in self.lines
                for adjustment in line.adjustments
                if adjustment.group == PATIENT_RESPONSIBILITY
            ),
            Decimal(0),
        )

    @property
    def status_code(self) -> str:
        """4 (denied) when nothing is paid and nothing is left to the patient."""
        denied = self.paid == 0 and self.patient_responsibility == 0
        return "4" if denied else "1"


def remittance_835(
    *,
    payer: Payer,
    payee: Payee,
    payments: tuple[ClaimPayment, ...],
    check_number: str,
    payment_date: dt.date,
    control_number: int,
    now: dt.datetime,
    sender_id: str,
    receiver_id: str,
) -> str:
    """One payment (check `check_number`, or a no-payment notice when nothing is paid) for
    `payments`, as the payer `sender_id` would send it to `receiver_id`. Raises
    X12InputError for a line whose charge is not its payment plus its adjustments."""
    if not payments:
        raise X12InputError("A remittance needs at least one claim payment.")
    total = sum((payment.paid for payment in payments), Decimal(0))
    body = [
        _payment(total, payment_date),
        segment(
            "TRN",
            "1",
            checked_text(check_number, field="Check number"),
            checked_text(payer.identifier, field="Payer identifier"),
        ),
        segment("DTM", "405", ccyymmdd(payment_date)),
        *_payer(payer),
        segment(
            "N1",
            "PE",
            checked_text(payee.name, field="Payee name"),
            "XX",
            checked_text(payee.npi, field="Payee NPI"),
        ),
        segment("LX", "1"),
    ]
    for payment in payments:
        body += _claim_payment(payment)
    return interchange(
        sender_id=sender_id,
        receiver_id=receiver_id,
        functional_id="HP",
        transaction_set_id="835",
        guide_version=GUIDE_835,
        body=body,
        control_number=control_number,
        now=now,
        guide_in_st=False,
        production=True,
    )


def _payment(total: Decimal, payment_date: dt.date) -> str:
    """BPR: a check (I: payment with remittance) or, when nothing is paid, a notice (H)."""
    if total > 0:
        return segment("BPR", "I", amount(total), "C", "CHK", *[""] * 11, ccyymmdd(payment_date))
    return segment("BPR", "H", "0", "C", "NON", *[""] * 11, ccyymmdd(payment_date))


def _payer(payer: Payer) -> list[str]:
    address = payer.address
    return [
        segment("N1", "PR", checked_text(payer.name, field="Payer name")),
        segment("N3", checked_text(address.line1, field="Payer address")),
        segment(
            "N4",
            checked_text(address.city, field="Payer city"),
            checked_text(address.state, field="Payer state"),
            checked_text(address.postal_code, field="Payer ZIP code"),
        ),
        segment("PER", "BL", "", "TE", checked_text(payer.contact_phone, field="Payer phone")),
    ]


def _claim_payment(payment: ClaimPayment) -> list[str]:
    claim = payment.claim
    if len(payment.lines) != len(claim.lines):
        raise X12InputError(
            f"Claim {claim.claim_id} has {len(claim.lines)} lines but "
            f"{len(payment.lines)} line payments."
        )
    patient = claim.patient or claim.subscriber
    segments = [
        segment(
            "CLP", claim.claim_id, payment.status_code, amount(claim.total_charge),
            amount(payment.paid), amount(payment.patient_responsibility),
            _claim_filing_code(claim), payment.payer_claim_control_number,
        ),
        segment(
            "NM1", "QC", "1", checked_text(patient.last_name, field="Patient last name"),
            checked_text(patient.first_name, field="Patient first name"), "", "", "",
            "MI", checked_text(claim.subscriber.member_id, field="Member id"),
        ),
    ]  # fmt: skip
    if payment.remarks:
        segments.append(_claim_remarks(payment.remarks, field=f"Claim {claim.claim_id}"))
    for number, (line, line_payment) in enumerate(zip(claim.lines, payment.lines, strict=True), 1):
        segments += _service_payment(
            line, line_payment, field=f"Claim {claim.claim_id} line {number}"
        )
    return segments


def _claim_remarks(remarks: tuple[str, ...], *, field: str) -> str:
    if len(remarks) > 5:
        raise X12InputError(f"{field} has {len(remarks)} claim remarks; MOA holds five.")
    codes = [checked_text(code, field=f"{field} remark") for code in remarks]
    return segment("MOA", "", "", *codes)


def _claim_filing_code(claim: Claim) -> str:
    code = claim.subscriber.claim_filing_code
    return code if code in CLP06_CODES else "ZZ"


def _service_payment(line: ServiceLine, payment: LinePayment, *, field: str) -> list[str]:
    adjusted = sum((adjustment.amount for adjustment in payment.adjustments), Decimal(0))
    if payment.paid + adjusted != line.charge:
        raise X12InputError(
            f"{field} does not balance: charge {line.charge} is not paid {payment.paid} "
            f"plus adjustments {adjusted}."
        )
    segments = [
        segment(
            "SVC", composite("HC", line.procedure_code, *line.modifiers), amount(line.charge),
            amount(payment.paid), "", quantity(line.units),
        ),
        segment("DTM", "472", ccyymmdd(line.service_date)),
        *_adjustment_segments(payment.adjustments),
    ]  # fmt: skip
    segments += [
        segment("LQ", "HE", checked_text(code, field=f"{field} remark")) for code in payment.remarks
    ]
    return segments


def _adjustment_segments(adjustments: tuple[Adjustment, ...]) -> list[str]:
    """One CAS per group code, each holding up to six reason/amount/quantity triples."""
    by_group: dict[str, list[Adjustment]] = {}
    for adjustment in adjustments:
        by_group.setdefault(adjustment.group, []).append(adjustment)
    segments = []
    for group, members in by_group.items():
        for start in range(0, len(members), MAX_ADJUSTMENTS_PER_CAS):
            triples = [
                value
                for adjustment in members[start : start + MAX_ADJUSTMENTS_PER_CAS]
                for value in (
                    adjustment.reason,
                    amount(adjustment.amount),
                    "" if adjustment.quantity is None else quantity(adjustment.quantity),
                )
            ]
            segments.append(segment("CAS", group, *triples))
    return segments
