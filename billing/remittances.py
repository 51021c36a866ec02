"""Importing 835 remittance advice: the payer's answer to the claims our 837P batches sent.

`remittance_import` reads one payment (one ST/SE transaction set) in one transaction:

1. The file must pass pyx12 and be an 835; anything else is refused with the reason and
   nothing is written.
2. A payment is imported once: the same payer and TRN trace number (check or EFT number)
   again is refused, since importing it twice would pay its claims twice. The unique
   constraint on Remittance backs this up when two imports race.
3. Each claim (CLP) is matched by CLP01, the claim number our 837P sent in CLM01
   (`Encounter.claim_number`, "E<pk>"), to an encounter of this practice that was exported
   and is still waiting for its answer. Its service lines (SVC) are matched to the claim
   lines by procedure code and modifiers, in order. The lines get the paid amount, the
   adjustments (group, CARC, amount) and the remark codes (RARC); the encounter becomes paid
   or denied, with the amount paid and the payer's claim number (CLP07).
4. A claim that cannot be applied cleanly changes nothing and is listed, with the reason, in
   the remittance's `unmatched`: a claim number that is not one of ours, a claim of another
   practice (told apart from an unknown one by nothing, so as not to reveal it exists), an
   encounter that was not exported, a service line that is not on the claim.

Corrections, reversals and second answers. A payer corrects a payment by reversing it
(CLP02 = 22, the amounts negated) and sending the claim again, often in a later 835. We do not
apply either automatically: a reversal, and any answer for a claim that an earlier remittance
already settled (paid or denied), goes to `unmatched` with the reason, and the claim keeps what
the first answer said. Applying a reversal means undoing a posted payment, which the front desk
must reconcile with the bank deposit by hand; refusing it keeps the books as they were rather
than posting a payment twice. Statuses that are not an adjudication for us (23: forwarded to
another payer, 25: predetermination only) are listed the same way.

What counts as denied. A line is denied when the payer paid nothing and left nothing to the
patient (no PR adjustment): a line that went wholly to the deductible was processed, not
denied. A claim is denied when its status is 4, or when nothing was paid and every line
was denied; otherwise it is paid (possibly with a paid amount of 0, all of it the patient's).

A file holding several payments (a clearinghouse may bundle checks) is refused with a
request to send them one at a time; each payment is its own Remittance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing.models import ClaimLine, Encounter, Remittance
from billing.x12 import X12ValidationError, parse_835_payments
from billing.x12.remittance import Adjustment, RemittanceClaim, RemittanceLine
from billing.x12.remittance import Remittance as Payment
from telehealth.accounts.models import Practice, User
from telehealth.audit import services as audit

# CLP02 statuses we apply: processed (primary, secondary, tertiary, with or without
# forwarding) and denied.
APPLIED_STATUSES = {"1", "2", "3", "19", "20", "21", "4"}
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"
PATIENT_RESPONSIBILITY = "PR"
# Why a claim was not applied (Remittance.unmatched "reason"), put in words when shown.
UNKNOWN = "unknown"
REVERSAL = "reversal"
SETTLED = "settled"
NOT_SENT = "not_sent"
NOT_ADJUDICATED = "not_adjudicated"
LINE_NOT_ON_CLAIM = "line_not_on_claim"
_CLAIM_NUMBER = re.compile(r"E([1-9][0-9]{0,17})")


class RemittanceImportError(ValueError):
    """An 835 that cannot be imported; the message says why, for the person who uploaded it."""


@dataclass(frozen=True)
class RemittanceImport:
    remittance: Remittance
    matched: int
    unmatched: int
    paid_total: Decimal  # paid on the claims that matched
    denied_lines: int


def remittance_import(*, practice: Practice, content: str, by: User) -> RemittanceImport:
    """Import the 835 in `content` for `practice`. Raises RemittanceImportError, having
    written nothing, for a file that is not a valid 835 or a payment already imported."""
    payment = _payment_in(content)
    try:
        with transaction.atomic():
            return _import(practice=practice, content=content, payment=payment, by=by)
    except IntegrityError as error:
        # Two imports of the same payment at once: the second meets the unique constraint.
        if _already_imported(practice=practice, payment=payment):
            raise RemittanceImportError(_already_imported_message(payment)) from error
        raise


def _payment_in(content: str) -> Payment:
    if not content.strip():
        raise RemittanceImportError(_("The file is empty."))
    kinds = _transaction_sets(content)
    if kinds and set(kinds) != {"835"}:
        raise RemittanceImportError(
            _(
                "This is not a remittance (835) file: it holds transaction set %(kinds)s. "
                "Claims (837) are sent, not imported here."
            )
            % {"kinds": ", ".join(sorted(set(kinds)))}
        )
    try:
        payments = parse_835_payments(content)
    except X12ValidationError as error:
        raise RemittanceImportError(
            _("The file is not a valid 835 remittance: %(errors)s") % {"errors": error}
        ) from error
    except (ValueError, KeyError, IndexError, ArithmeticError) as error:
        raise RemittanceImportError(
            _("The file could not be read as an 835 remittance.")
        ) from error
    if len(payments) != 1:
        raise RemittanceImportError(
            _(
                "The file holds %(count)s payments; import a file with one payment "
                "(one ST/SE transaction set) at a time."
            )
            % {"count": len(payments)}
        )
    _check_amounts(payments[0])
    return payments[0]


def _check_amounts(payment: Payment) -> None:
    """The amounts we store must fit their columns (X12 allows up to 18 digits): a payment
    total of Remittance.total_paid's size, claim and line payments of Encounter.paid_amount's
    and ClaimLine.paid's. A larger one is refused rather than failing in the database."""
    too_large = []
    if not _fits(payment.total_paid, Remittance._meta.get_field("total_paid")):
        too_large.append(f"BPR02 {payment.total_paid}")
    claim_paid = Encounter._meta.get_field("paid_amount")
    line_paid = ClaimLine._meta.get_field("paid")
    for claim in payment.claims:
        if not _fits(claim.paid, claim_paid):
            too_large.append(f"CLP {claim.claim_id} {claim.paid}")
        too_large += [
            f"SVC {claim.claim_id} {line.procedure_code} {line.paid}"
            for line in claim.lines
            if not _fits(line.paid, line_paid)
        ]
    if too_large:
        raise RemittanceImportError(
            _("The file has amounts too large to be a payment: %(amounts)s.")
            % {"amounts": ", ".join(too_large)}
        )


def _fits(amount: Decimal, column: Any) -> bool:
    """Whether `amount`, rounded to cents, fits a DecimalField of the column's size."""
    limit = Decimal(10) ** (column.max_digits - column.decimal_places)
    try:
        return abs(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) < limit
    except InvalidOperation:  # more digits than the decimal context holds
        return False


def _transaction_sets(content: str) -> list[str]:
    """ST01 of every transaction set, read with the delimiters the ISA declares; empty when
    the text has no readable ISA (the validator then says what is wrong)."""
    isa = content.lstrip()[:106]
    if len(isa) < 106 or not isa.startswith("ISA"):
        return []
    element, terminator = isa[3], isa[105]
    kinds = []
    for raw in content.split(terminator):
        fields = raw.strip().split(element)
        if fields[0] == "ST" and len(fields) > 1:
            kinds.append(fields[1])
    return kinds


def _already_imported(*, practice: Practice, payment: Payment) -> bool:
    return Remittance.objects.filter(
        practice=practice, payer_name=payment.payer_name, trace_number=payment.check_number
    ).exists()


def _already_imported_message(payment: Payment) -> str:
    return _(
        "This payment was already imported: trace number %(trace)s from %(payer)s. "
        "Importing it again would pay its claims twice."
    ) % {"trace": payment.check_number, "payer": payment.payer_name}


def _import(*, practice: Practice, content: str, payment: Payment, by: User) -> RemittanceImport:
    if _already_imported(practice=practice, payment=payment):
        raise RemittanceImportError(_already_imported_message(payment))
    remittance = Remittance.objects.create(
        practice=practice,
        imported_by=by,
        payer_name=payment.payer_name,
        trace_number=payment.check_number,
        payment_date=payment.payment_date,
        total_paid=payment.total_paid,
        content=content,
    )
    encounters = _encounters(practice=practice, claims=payment.claims)
    applied: list[Encounter] = []
    claims: list[dict] = []
    unmatched: list[dict] = []
    seen: set[int] = set()
    paid_total = Decimal(0)
    denied_lines = 0
    for claim in payment.claims:
        encounter = encounters.get(claim.claim_id)
        reason = _why_not_applied(claim, encounter, seen=seen)
        lines = None
        if reason is None:
            assert encounter is not None
            lines, reason = _match_lines(claim, list(encounter.lines.all()))
        if reason is not None or encounter is None or lines is None:
            unmatched.append(_unmatched(claim, reason or {}))
            continue
        seen.add(encounter.pk)
        denied_lines += _apply(claim, encounter, lines, remittance=remittance)
        applied.append(encounter)
        claims.append(_claim_record(claim, encounter))
        paid_total += claim.paid
    remittance.claims = claims
    remittance.unmatched = unmatched
    remittance.matched_claims = len(applied)
    remittance.save(update_fields=["claims", "unmatched", "matched_claims"])
    audit.record(
        action="create",
        actor=by,
        obj=remittance,
        detail=f"835 trace {payment.check_number}: {len(applied)} claims matched, "
        f"{len(unmatched)} unmatched",
    )
    if applied:
        audit.record_many(
            action="update",
            actor=by,
            objects=[(encounter, encounter.patient) for encounter in applied],
            detail=f"835 trace {payment.check_number}",
        )
    return RemittanceImport(
        remittance=remittance,
        matched=len(applied),
        unmatched=len(unmatched),
        paid_total=paid_total,
        denied_lines=denied_lines,
    )


def _encounters(*, practice: Practice, claims: tuple[RemittanceClaim, ...]) -> dict[str, Encounter]:
    """This practice's encounters named by the claims, locked: a second import running at
    the same time waits, then sees them settled."""
    ids = {}
    for claim in claims:
        found = _CLAIM_NUMBER.fullmatch(claim.claim_id)
        if found:
            ids[int(found.group(1))] = claim.claim_id
    rows = (
        Encounter.objects.select_for_update()
        .filter(practice=practice, pk__in=ids)
        .select_related("patient")
        .order_by("pk")
    )
    return {ids[encounter.pk]: encounter for encounter in rows}


def _why_not_applied(
    claim: RemittanceClaim, encounter: Encounter | None, *, seen: set[int]
) -> dict | None:
    if encounter is None:
        return {"reason": UNKNOWN}
    if claim.status_code == REVERSAL_STATUS:
        return {"reason": REVERSAL}
    if encounter.pk in seen or encounter.status in (
        Encounter.Status.PAID,
        Encounter.Status.DENIED,
    ):
        return {"reason": SETTLED}
    if encounter.status != Encounter.Status.EXPORTED or encounter.claim_batch_id is None:
        return {"reason": NOT_SENT}
    if claim.status_code not in APPLIED_STATUSES:
        return {"reason": NOT_ADJUDICATED, "detail": f"{claim.status_code} ({claim.status})"}
    return None


def _match_lines(
    claim: RemittanceClaim, claim_lines: list[ClaimLine]
) -> tuple[list[tuple[RemittanceLine, ClaimLine]] | None, dict | None]:
    """Each service line paired with the first claim line, in order, with the same procedure
    code and modifiers not paired yet; a service line with none makes the claim unmatched.
    A line the payer adjudicated under another code (or modifiers) names the submitted one in
    SVC06, and is matched by that."""
    free = list(claim_lines)
    pairs = []
    for line in claim.lines:
        code, given = line.as_submitted
        modifiers = tuple(modifier for modifier in given if modifier)
        match = next(
            (
                claim_line
                for claim_line in free
                if claim_line.code == code and tuple(claim_line.modifiers) == modifiers
            ),
            None,
        )
        if match is None:
            return None, {
                "reason": LINE_NOT_ON_CLAIM,
                "detail": ":".join([code, *modifiers]),
            }
        free.remove(match)
        pairs.append((line, match))
    return pairs, None


def unmatched_reason(entry: dict) -> str:
    """The reason an unmatched claim changed nothing, in words, in the reader's language."""
    detail = entry.get("detail", "")
    reason = entry.get("reason")
    if reason == UNKNOWN:
        return _("No claim of this practice has this number.")
    if reason == REVERSAL:
        return _(
            "A reversal of an earlier payment: not applied automatically; reconcile it by hand."
        )
    if reason == SETTLED:
        return _("An earlier remittance already settled this claim; this answer was not applied.")
    if reason == NOT_SENT:
        return _("This claim has not been sent: the encounter is not exported.")
    if reason == NOT_ADJUDICATED:
        return _("Claim status %(status)s is not a payment or a denial.") % {"status": detail}
    if reason == LINE_NOT_ON_CLAIM:
        return _("Service line %(procedure)s is not on the claim.") % {"procedure": detail}
    return _("Not applied.")


def line_is_denied(*, paid: Decimal | None, adjustments: list[dict]) -> bool:
    """Nothing paid and nothing left to the patient."""
    return paid == 0 and not any(a["group"] == PATIENT_RESPONSIBILITY for a in adjustments)


def _apply(
    claim: RemittanceClaim,
    encounter: Encounter,
    pairs: list[tuple[RemittanceLine, ClaimLine]],
    *,
    remittance: Remittance,
) -> int:
    """Write the answer on the lines and the encounter; the number of denied lines."""
    denied = 0
    touched = []
    for line, claim_line in pairs:
        claim_line.paid = line.paid
        claim_line.adjustments = [_adjustment(a) for a in line.adjustments]
        claim_line.remarks = list(line.remarks)
        touched.append(claim_line)
    if not pairs and claim.status_code == DENIED_STATUS:
        # A denial of the whole claim without service lines: every line is denied.
        for claim_line in encounter.lines.all():
            claim_line.paid = Decimal(0)
            claim_line.adjustments = []
            claim_line.remarks = []
            touched.append(claim_line)
    for claim_line in touched:
        denied += line_is_denied(paid=claim_line.paid, adjustments=claim_line.adjustments)
        claim_line.save(update_fields=["paid", "adjustments", "remarks"])
    all_denied = bool(touched) and denied == len(touched)
    is_denied = claim.status_code == DENIED_STATUS or (
        claim.paid == 0 and claim.patient_responsibility == 0 and all_denied
    )
    encounter.status = Encounter.Status.DENIED if is_denied else Encounter.Status.PAID
    encounter.paid_amount = claim.paid
    encounter.payer_claim_number = claim.payer_claim_control_number
    encounter.remittance = remittance
    encounter.save(
        update_fields=["status", "paid_amount", "payer_claim_number", "remittance", "updated_at"]
    )
    return denied


def _adjustment(adjustment: Adjustment) -> dict:
    return {
        "group": adjustment.group,
        "reason": adjustment.reason,
        "amount": str(adjustment.amount),
    }


def _claim_record(claim: RemittanceClaim, encounter: Encounter) -> dict:
    return {
        "claim": claim.claim_id,
        "encounter": encounter.pk,
        "status": claim.status_code,
        "charge": str(claim.charged),
        "paid": str(claim.paid),
        "patient_responsibility": str(claim.patient_responsibility),
        "payer_claim_number": claim.payer_claim_control_number,
        "adjustments": [_adjustment(a) for a in claim.adjustments],
        "remarks": list(claim.remarks),
    }


def _unmatched(claim: RemittanceClaim, reason: dict) -> dict:
    return {
        "claim": claim.claim_id,
        "status": claim.status_code,
        "charge": str(claim.charged),
        "paid": str(claim.paid),
        **reason,
    }
