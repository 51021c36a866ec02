"""Reads of billing, scoped to who is asking.

Patients see their own encounters once signed (their superbills); clinicians see the
encounters they rendered; the front desk and practice admins see the practice's, since they
work the billing lists (an encounter carries codes and charges, never the visit's note).
`access_encounter` is the one door to a single encounter and answers 404 to outsiders."""

from datetime import date

from django.db.models import (
    Count,
    DecimalField,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.shortcuts import get_object_or_404

from billing.models import ClaimBatch, ClaimLine, Encounter, EncounterAmendment, Remittance
from telehealth.accounts.models import STAFF_ROLES, Provider, Role, User

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


# Encounters: the worklist by status and the review page ---------------------------------


def providers_for(*, user: User) -> QuerySet[Provider]:
    """The practice's providers, to filter the worklist by; a clinician only ever sees their
    own encounters, so they get only themselves."""
    if user.practice_id is None or user.role not in STAFF_ROLES:
        return Provider.objects.none()
    providers = Provider.objects.filter(practice_id=user.practice_id)
    if user.role == Role.CLINICIAN:
        return providers.filter(user=user)
    return providers


def worklist(
    *, user: User, provider_id: int | None = None, month: date | None = None
) -> QuerySet[Encounter]:
    """The encounters the user works, with each one's total charge and its lines, filtered by
    rendering provider and by the month of the date of service (any status)."""
    encounters = encounters_for(user=user)
    if user.role == Role.PATIENT:
        return Encounter.objects.none()
    if provider_id is not None:
        encounters = encounters.filter(rendering_provider_id=provider_id)
    if month is not None:
        encounters = encounters.filter(
            date_of_service__year=month.year, date_of_service__month=month.month
        )
    return encounters


def status_counts(encounters: QuerySet[Encounter]) -> dict[str, int]:
    rows = encounters.order_by().values("status").annotate(count=Count("pk"))
    counts = {row["status"]: row["count"] for row in rows}
    return {status: counts.get(status, 0) for status in Encounter.Status.values}


def with_totals(encounters: QuerySet[Encounter]) -> QuerySet[Encounter]:
    charges = ClaimLine.objects.filter(encounter=OuterRef("pk")).order_by().values("encounter")
    total = charges.annotate(total=Sum("charge")).values("total")
    charge = Subquery(total, output_field=DecimalField(max_digits=11, decimal_places=2))
    return encounters.annotate(total_charge=charge).prefetch_related(
        Prefetch("lines", queryset=ClaimLine.objects.only("encounter_id", "code", "position"))
    )


def encounter_for_review(*, user: User, encounter_id: int) -> Encounter:
    """The encounter with everything its review page shows: diagnoses, lines, amendments."""
    encounters = (
        encounters_for(user=user)
        .prefetch_related(
            "diagnoses",
            "lines",
            Prefetch(
                "amendments", queryset=EncounterAmendment.objects.select_related("changed_by")
            ),
        )
        .select_related("signed_by", "rendering_provider__user")
    )
    return get_object_or_404(encounters, pk=encounter_id)
