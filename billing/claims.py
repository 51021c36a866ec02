"""837P claim batches from signed encounters: which encounters can go and why the others
cannot, and the export that writes, validates and keeps one batch.

What a claim is built from:
- billing provider (2010AA), submitter (1000A) and receiver (1000B): the practice's
  BillingProfile;
- rendering provider (2310B): the encounter's rendering provider and their NPI;
- subscriber (2000B/2010BA) and payer (2010BB): the insurance card the patient had on the date
  of service, read through intake's selectors, and the Payer it names (payer id, claim filing
  code by kind);
- patient (2000C/2010CA): only when the patient is not the policy holder;
- claim (2300) and lines (2400): the encounter's diagnoses and claim lines.

Locking. The export locks the practice's BillingProfile row first and only then reads (and
locks) the encounters it was asked to send: two exports of the same practice run one after
the other, so they never take the same control number, and the second finds the encounters
the first exported already carrying their batch and refuses them instead of sending them
again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import diagnoses
from billing import x12 as x12
from billing.models import BillingProfile, ClaimBatch, Encounter, Payer
from billing.rules.records import PayerKind
from intake.selectors import ClaimInsurance, claim_insurances_on
from telehealth.accounts.models import Practice, Provider, Sex, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action

MAX_CONTROL_NUMBER = 999_999_999  # ISA13 has nine digits
# SBR09: the claim filing indicator by payer profile.
CLAIM_FILING_CODES = {
    PayerKind.MEDICARE: "MB",
    PayerKind.MEDICAID: "MC",
    PayerKind.COMMERCIAL: "CI",
}
# PAT01: the patient's relationship to the policy holder (18 "self" never appears there).
RELATIONSHIP_CODES = {"spouse": "01", "child": "19", "other": "G8"}
SEX_CODES: dict[str, str] = {Sex.FEMALE: "F", Sex.MALE: "M"}
_HONORIFIC = re.compile(r"^(dr|dra|mr|mrs|ms|mx)\.?\s+", re.IGNORECASE)


class ClaimExportError(Exception):
    """The export cannot run at all (no billing profile, nothing chosen, a validator error):
    nothing was written. `errors` lists the reasons."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


@dataclass(frozen=True)
class ClaimCandidate:
    """A signed, unexported encounter with the claim built from it, or the reasons it
    cannot go."""

    encounter: Encounter
    reasons: tuple[str, ...]
    claim: x12.Claim | None = None

    @property
    def ready(self) -> bool:
        return not self.reasons

    @property
    def total_charge(self) -> Decimal:
        return sum((line.charge for line in self.encounter.lines.all()), Decimal(0))


@dataclass
class ExportResult:
    batch: ClaimBatch | None
    sent: list[Encounter] = field(default_factory=list)
    refused: list[ClaimCandidate] = field(default_factory=list)


# Reads ---------------------------------------------------------------------------------


def unexported_encounters(*, practice: Practice):
    return (
        Encounter.objects.filter(
            practice=practice, status=Encounter.Status.SIGNED, claim_batch__isnull=True
        )
        .select_related("patient", "practice", "rendering_provider__user", "payer")
        .prefetch_related("diagnoses", "lines")
        .order_by("date_of_service", "pk")
    )


def claims_ready(*, practice: Practice) -> list[ClaimCandidate]:
    """Every signed encounter of the practice not yet exported, each with its claim or the
    reasons it cannot be sent."""
    profile = BillingProfile.objects.filter(practice=practice).first()
    return assess_all(list(unexported_encounters(practice=practice)), profile=profile)


def assess_all(
    encounters: list[Encounter], *, profile: BillingProfile | None
) -> list[ClaimCandidate]:
    """Each encounter's claim or reasons, reading payers and insurance cards once for all."""
    if not encounters:
        return []
    practice = encounters[0].practice
    payers = {p.name.casefold(): p for p in Payer.objects.filter(practice_id=practice.pk)}
    # The card the patient had on the date of service, as on the superbill: a card given
    # since (another insurer, another member id) is not the coverage that paid for it.
    ends = {e.pk: end_of_day(e.date_of_service, practice.zone) for e in encounters}
    insurances = claim_insurances_on((e.patient, ends[e.pk]) for e in encounters)
    return [
        assess(
            e, profile=profile, payers=payers, insurance=insurances.get((e.patient_id, ends[e.pk]))
        )
        for e in encounters
    ]


def end_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)


def assess(
    encounter: Encounter,
    *,
    profile: BillingProfile | None,
    payers: dict[str, Payer],
    insurance: ClaimInsurance | None,
) -> ClaimCandidate:
    """The claim for one encounter, or every reason it cannot be sent (all of them, so the
    front desk fixes them at once rather than one per try)."""
    reasons: list[str] = []
    if profile is None:
        reasons.append(_("The practice's billing profile (group NPI, tax id) is not set up."))
    provider = encounter.rendering_provider
    if provider is None:
        reasons.append(_("No rendering clinician is recorded."))
    elif not provider.npi:
        reasons.append(_("%(name)s has no NPI on file.") % {"name": provider.display_name})
    payer, card_reasons = _insurance(encounter, insurance, payers)
    reasons += card_reasons
    codes, diagnosis_reasons = _diagnosis_codes(encounter)
    reasons += diagnosis_reasons
    positions = [row.position for row in encounter.diagnoses.all()]
    reasons += _line_problems(encounter, positions=positions)
    if reasons or profile is None or payer is None or insurance is None:
        return ClaimCandidate(encounter, tuple(reasons))
    claim = _claim(encounter, profile=profile, payer=payer, insurance=insurance, codes=codes)
    try:
        # Write it alone once: anything X12 cannot carry (a name with a delimiter, a bad
        # check digit, a malformed ZIP) is this encounter's reason, not the whole batch's.
        x12.claim_batch_837p(
            x12.ClaimBatch(_submitter(profile), _receiver(profile), (claim,)),
            control_number=1,
            now=timezone.now(),
        )
    except x12.X12InputError as error:
        return ClaimCandidate(encounter, (str(error),))
    return ClaimCandidate(encounter, (), claim)


def _insurance(
    encounter: Encounter, insurance: ClaimInsurance | None, payers: dict[str, Payer]
) -> tuple[Payer | None, list[str]]:
    patient = encounter.patient
    if insurance is None:
        return None, [_("No insurance card on file for the patient.")]
    reasons = []
    payer = encounter.payer or payers.get(insurance.payer.casefold())
    if payer is None:
        reasons.append(
            _("The insurer %(name)s is not set up as a payer.") % {"name": insurance.payer}
        )
    elif not payer.payer_id.strip():
        reasons.append(_("The payer %(name)s has no electronic payer id.") % {"name": payer.name})
    if not insurance.member_id:
        reasons.append(_("The insurance card has no member id."))
    holder = insurance.holder
    if holder.missing and holder.is_patient:
        reasons.append(
            _("Missing from the patient's record: %(details)s.")
            % {"details": ", ".join(holder.missing)}
        )
    elif holder.missing:
        reasons.append(
            _("Missing for the policy holder on the insurance card: %(details)s.")
            % {"details": ", ".join(holder.missing)}
        )
    if not holder.is_patient and not _address_complete(patient.address):
        reasons.append(_("The patient's address is missing from their record."))
    return payer, reasons


def _address_complete(address: dict | None) -> bool:
    address = address or {}
    return all(address.get(part) for part in ("line1", "city", "state", "postal_code"))


def _diagnosis_codes(encounter: Encounter) -> tuple[tuple[str, ...], list[str]]:
    rows = list(encounter.diagnoses.all())
    if not rows:
        return (), [_("No diagnosis: a claim needs at least one ICD-10-CM code.")]
    codes, reasons = [], []
    for row in rows:
        try:
            codes.append(diagnoses.for_claim(row.code).claim_code)
        except diagnoses.DiagnosisRefused as refused:
            reasons.append(
                _("Diagnosis %(position)s: %(reason)s")
                % {
                    "position": row.position,
                    "reason": refused,
                }
            )
    return tuple(codes), reasons


def _line_problems(encounter: Encounter, *, positions: list[int]) -> list[str]:
    """Charges and pointers. A pointer names a diagnosis by its position on the encounter."""
    lines = list(encounter.lines.all())
    if not lines:
        return [_("No claim lines: nothing to bill.")]
    reasons = []
    for line in lines:
        if line.charge <= 0:
            reasons.append(_("The charge for %(code)s is zero.") % {"code": line.code})
        if not line.diagnosis_pointers:
            reasons.append(_("%(code)s points at no diagnosis.") % {"code": line.code})
        elif positions and any(int(p) not in positions for p in line.diagnosis_pointers):
            reasons.append(
                _("%(code)s points at a diagnosis the encounter does not have.")
                % {"code": line.code}
            )
    return reasons


def _pointers(line_pointers: list[int], positions: list[int]) -> tuple[int, ...]:
    """HI carries the diagnoses in position order; SV107 points at their place there."""
    return tuple(positions.index(int(p)) + 1 for p in line_pointers)


# Building the X12 dataclasses -------------------------------------------------------------


def _claim(
    encounter: Encounter,
    *,
    profile: BillingProfile,
    payer: Payer,
    insurance: ClaimInsurance,
    codes: tuple[str, ...],
) -> x12.Claim:
    person = insurance.holder
    positions = [row.position for row in encounter.diagnoses.all()]
    assert person.birth_date is not None  # assess() refuses a holder with details missing
    lines = list(encounter.lines.all())
    last, first = split_name(person.name)
    subscriber = x12.Subscriber(
        payer_name=payer.name,
        payer_id=payer.payer_id.strip(),
        member_id=insurance.member_id,
        last_name=last,
        first_name=first,
        birth_date=person.birth_date,
        sex=SEX_CODES.get(person.sex, "U"),
        address=_address(person.address),
        group_number=insurance.group_number,
        claim_filing_code=CLAIM_FILING_CODES.get(PayerKind(payer.profile_kind), "CI"),
    )
    patient = None
    if not person.is_patient:
        record = encounter.patient
        last, first = split_name(record.legal_name)
        patient = x12.Patient(
            last_name=last,
            first_name=first,
            birth_date=record.date_of_birth,
            sex=SEX_CODES.get(record.sex, "U"),
            address=_address(record.address),
            relationship=RELATIONSHIP_CODES.get(person.relationship, "G8"),
        )
    return x12.Claim(
        claim_id=encounter.claim_number,
        billing_provider=_billing_provider(profile),
        subscriber=subscriber,
        diagnosis_codes=codes,
        lines=tuple(
            x12.ServiceLine(
                procedure_code=line.code,
                charge=line.charge,
                service_date=encounter.date_of_service,
                diagnosis_pointers=_pointers(line.diagnosis_pointers, positions),
                units=Decimal(line.units),
                modifiers=tuple(line.modifiers),
                place_of_service=line.place_of_service,
            )
            for line in lines
        ),
        place_of_service=lines[0].place_of_service,
        rendering_provider=_rendering_provider(encounter.rendering_provider),
        patient=patient,
    )


def split_name(name: str) -> tuple[str, str]:
    """(last, first) from a name as people write it: "Doe, Jane" or "Jane Q. Doe"."""
    name = " ".join(name.split())
    if "," in name:
        last, _sep, first = name.partition(",")
        return last.strip(), first.strip() or last.strip()
    parts = name.rsplit(" ", 1)
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[1], parts[0]


def _provider_name(provider: Provider) -> tuple[str, str]:
    name = provider.user.full_name or provider.display_name
    name = _HONORIFIC.sub("", name.split(",")[0].strip())
    return split_name(name)


def _rendering_provider(provider: Provider | None) -> x12.RenderingProvider | None:
    if provider is None:
        return None
    last, first = _provider_name(provider)
    return x12.RenderingProvider(last_name=last, first_name=first, npi=provider.npi)


def _address(address: dict) -> x12.Address:
    return x12.Address(
        line1=address.get("line1", ""),
        line2=address.get("line2", ""),
        city=address.get("city", ""),
        state=(address.get("state") or "").upper(),
        postal_code=address.get("postal_code", ""),
    )


def _billing_provider(profile: BillingProfile) -> x12.BillingProvider:
    return x12.BillingProvider(
        name=profile.billing_name,
        npi=profile.group_npi,
        ein=profile.ein,
        address=x12.Address(profile.address_line, profile.city, profile.state, profile.zip_code),
        taxonomy=profile.taxonomy,
    )


def _submitter(profile: BillingProfile) -> x12.Submitter:
    return x12.Submitter(
        name=profile.billing_name,
        identifier=profile.submitter_id,
        contact_name=profile.submitter_contact,
        contact_phone=profile.submitter_phone,
    )


def _receiver(profile: BillingProfile) -> x12.Receiver:
    return x12.Receiver(name=profile.receiver_name, identifier=profile.receiver_id)


# The export --------------------------------------------------------------------------------


def claim_batch_export(
    *,
    practice: Practice,
    encounter_ids: list[int],
    by: User,
    now: datetime | None = None,
) -> ExportResult:
    """One 837P batch of the chosen encounters that can go; the others are refused with their
    reasons. The batch is validated by pyx12 before anything is kept: any error refuses the
    whole batch (ClaimExportError with the validator's messages) and writes nothing, not even
    the control number. Returns the batch (None when nothing could go), what was sent and what
    was refused."""
    if not encounter_ids:
        raise ClaimExportError([_("Choose at least one encounter to export.")])
    now = now or timezone.now()
    with transaction.atomic():
        profile = BillingProfile.objects.select_for_update().filter(practice=practice).first()
        if profile is None:
            raise ClaimExportError(
                [_("The practice's billing profile (group NPI, tax id) is not set up.")]
            )
        # Read after the profile lock: an export that committed meanwhile is seen whole. The
        # encounters sent are locked too, so an amendment after signing (review locks the
        # same row) either commits before they are read, and the claim carries it, or waits
        # and then finds the claim gone out.
        # Locked in id order, as the 835 import locks them, so the two never deadlock.
        wanted = unexported_encounters(practice=practice).filter(pk__in=set(encounter_ids))
        locked = list(
            wanted.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
        )
        chosen = list(wanted.filter(pk__in=locked))
        candidates = assess_all(chosen, profile=profile)
        found = {encounter.pk for encounter in chosen}
        gone = [
            ClaimCandidate(
                Encounter(pk=pk), (_("Already exported, not signed, or not this practice's."),)
            )
            for pk in sorted(set(encounter_ids) - found)
        ]
        ready = [c for c in candidates if c.ready]
        refused = [c for c in candidates if not c.ready] + gone
        if not ready:
            return ExportResult(batch=None, refused=refused)
        control_number = profile.last_control_number + 1
        if control_number > MAX_CONTROL_NUMBER:
            raise ClaimExportError([_("The interchange control numbers are used up.")])
        claims = tuple(c.claim for c in ready if c.claim is not None)
        try:
            text = x12.claim_batch_837p(
                x12.ClaimBatch(_submitter(profile), _receiver(profile), claims),
                control_number=control_number,
                now=timezone.localtime(now, practice.zone),
            )
        except x12.X12InputError as error:
            raise ClaimExportError([str(error)]) from error
        errors = x12.validate(text)
        if errors:
            raise ClaimExportError([str(error) for error in errors])
        batch = ClaimBatch.objects.create(
            practice=practice,
            control_number=control_number,
            created_by=by,
            created_at=now,
            content=text,
            claim_count=len(claims),
            total_charge=sum((claim.total_charge for claim in claims), Decimal(0)),
        )
        profile.last_control_number = control_number
        profile.save(update_fields=["last_control_number"])
        sent = [c.encounter for c in ready]
        Encounter.objects.filter(pk__in=[e.pk for e in sent]).update(
            status=Encounter.Status.EXPORTED, claim_batch=batch, updated_at=now
        )
        audit.record(
            action=Action.EXPORT,
            actor=by,
            obj=batch,
            detail=f"837P batch {control_number}: {len(claims)} claims",
        )
        audit.record_many(
            action=Action.UPDATE,
            actor=by,
            objects=[(encounter, encounter.patient) for encounter in sent],
            detail=f"exported in 837P batch {control_number}",
        )
    for encounter in sent:
        encounter.status = Encounter.Status.EXPORTED
        encounter.claim_batch = batch
    return ExportResult(batch=batch, sent=sent, refused=refused)
