"""Reads of billing, scoped to who is asking.

Patients see their own encounters once signed (their superbills); clinicians see the
encounters they rendered; the front desk and practice admins see the practice's, since they
work the billing lists (an encounter carries codes and charges, never the visit's note).
`access_encounter` is the one door to a single encounter and answers 404 to outsiders."""

from django.db.models import F, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from billing.models import ClaimBatch, ClaimLine, Encounter, Remittance
from telehealth.accounts.models import Role, User

SIGNED_STATES = (
    Encounter.Status.SIGNED,
    Encounter.Status.EXPORTED,
    Encounter.Status.PAID,
    Encounter.Status.DENIED,
)


def encounters_for(*, user: User) -> QuerySet[Encounter]:
    encounters = Encounter.objects.select_related(
        "patient", "rendering_provider", "payer", "practice"
    )
    if user.role == Role.PATIENT:
        patient = getattr(user, "patient", None)
        if patient is None:
            return Encounter.objects.none()
        return encounters.filter(patient=patient, status__in=SIGNED_STATES)
    if user.practice_id is None:
        return Encounter.objects.none()
    encounters = encounters.filter(practice_id=user.practice_id)
    if user.role == Role.CLINICIAN:
        return encounters.filter(rendering_provider__user=user)
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return encounters
    return Encounter.objects.none()


def access_encounter(*, user: User, encounter_id: int) -> Encounter:
    return get_object_or_404(encounters_for(user=user), pk=encounter_id)


def claim_batches_for(*, user: User) -> QuerySet[ClaimBatch]:
    """The practice's 837P batches, for those who export them."""
    if user.practice_id is None or user.role not in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return ClaimBatch.objects.none()
    return ClaimBatch.objects.filter(practice_id=user.practice_id)


def access_claim_batch(*, user: User, batch_id: int) -> ClaimBatch:
    return get_object_or_404(claim_batches_for(user=user), pk=batch_id)


def remittances_for(*, user: User) -> QuerySet[Remittance]:
    if user.practice_id is None or user.role not in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return Remittance.objects.none()
    return Remittance.objects.filter(practice_id=user.practice_id)


def access_remittance(*, user: User, remittance_id: int) -> Remittance:
    return get_object_or_404(remittances_for(user=user), pk=remittance_id)


# Remittances: the lines the payer denied or cut, to work ---------------------------------


def lines_to_work_for(*, user: User, limit: int | None = None) -> list[ClaimLine]:
    """Lines an imported 835 denied or adjusted for reasons other than the patient's share,
    newest service first, for those who work remittances; at most `limit` of them. An
    adjustment that only moves the amount to the patient (group PR: deductible, coinsurance,
    co-payment) is billed to the patient, not worked with the payer, so a line with only
    those is left out."""
    if user.practice_id is None or user.role not in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return []
    lines = (
        ClaimLine.objects.filter(
            encounter__practice_id=user.practice_id,
            encounter__remittance__isnull=False,
            paid__isnull=False,
        )
        .exclude(Q(paid=F("charge")) & Q(adjustments=[]))
        .select_related("encounter__patient", "encounter__remittance", "encounter__payer")
        .order_by("-encounter__date_of_service", "encounter_id", "position")
    )
    found: list[ClaimLine] = []
    for line in lines.iterator(chunk_size=500):
        if _to_work(line):
            found.append(line)
            if limit is not None and len(found) >= limit:
                break
    return found


def _to_work(line: ClaimLine) -> bool:
    to_patient = any(adjustment["group"] == "PR" for adjustment in line.adjustments)
    cut = any(adjustment["group"] != "PR" for adjustment in line.adjustments)
    return (line.paid == 0 and not to_patient) or cut


def superbills_for(*, user: User) -> QuerySet[Encounter]:
    """Encounters whose superbill the user may download: signed ones only, since the
    superbill carries the clinician's signature; newest date of service first."""
    return encounters_for(user=user).filter(status__in=SIGNED_STATES)


def access_superbill(*, user: User, encounter_id: int) -> Encounter:
    superbills = superbills_for(user=user).select_related(
        "signed_by__provider", "practice__billing_profile"
    )
    return get_object_or_404(superbills.prefetch_related("diagnoses", "lines"), pk=encounter_id)


def my_superbills(*, user: User) -> QuerySet[Encounter]:
    """The patient's own superbills with their totals, for the portal's list."""
    if user.role != Role.PATIENT:
        return Encounter.objects.none()
    # An aggregate drops Meta.ordering from the query, so the order is given again here.
    superbills = superbills_for(user=user).annotate(total_charge=Sum("lines__charge"))
    return superbills.order_by("-date_of_service", "-pk")
