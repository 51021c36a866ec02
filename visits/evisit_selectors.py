"""Reads of e-visits, scoped to the acting user. A patient sees their own cases; a clinician
sees the practice's submitted cases nobody has taken (the queue) and the cases assigned to
them. Nobody else sees a case: not the front desk, not admins, not other clinicians."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from intake import selectors as intake_selectors
from telehealth.accounts.models import Patient, Role, User
from visits import evisit_rules
from visits.models import EVisit, EVisitCondition, EVisitMessage, EVisitPhoto, Visit

QUEUE_PAGE_SIZE = 50
OPEN = (EVisit.State.SUBMITTED, EVisit.State.IN_REVIEW, EVisit.State.AWAITING_PATIENT)


def conditions_offered(patient: Patient) -> QuerySet[EVisitCondition]:
    return EVisitCondition.objects.filter(practice_id=patient.practice_id, is_active=True)


def evisits_visible_to(user: User) -> QuerySet[EVisit]:
    evisits = EVisit.objects.select_related("patient", "condition", "assigned_to")
    if not user.is_authenticated:
        return evisits.none()
    if user.role == Role.PATIENT:
        return evisits.filter(patient__user=user)
    if user.role != Role.CLINICIAN or user.practice_id is None:
        return evisits.none()
    return evisits.filter(practice_id=user.practice_id).filter(
        Q(assigned_to=user) | Q(assigned_to__isnull=True, state=EVisit.State.SUBMITTED)
    )


def access_evisit(*, user: User, evisit_id: int) -> EVisit:
    return get_object_or_404(evisits_visible_to(user), pk=evisit_id)


def access_evisit_photo(*, user: User, photo_id: int) -> EVisitPhoto:
    photos = EVisitPhoto.objects.select_related("evisit__patient")
    return get_object_or_404(photos.filter(evisit__in=evisits_visible_to(user)), pk=photo_id)


def patient_evisits(user: User) -> QuerySet[EVisit]:
    """The patient's own cases, newest first."""
    if user.role != Role.PATIENT:
        return EVisit.objects.none()
    return evisits_visible_to(user).exclude(state=EVisit.State.CANCELLED).order_by("-created_at")


def queue(*, user: User, page: int | str | None) -> Page:
    """The clinician's open cases, soonest due first, one page at a time: the ones nobody has
    taken and their own (the index on practice, state, due serves it)."""
    cases = (
        evisits_visible_to(user)
        .filter(state__in=OPEN)
        .select_related("patient", "condition", "assigned_to")
        .order_by("due_at", "pk")
    )
    return Paginator(cases, QUEUE_PAGE_SIZE).get_page(page)


def messages_of(evisit: EVisit) -> QuerySet[EVisitMessage]:
    return evisit.messages.select_related("author")


def answers_of(evisit: EVisit) -> list[tuple[str, str, str]]:
    """The condition questionnaire's answers as (question, answer, file link)."""
    if evisit.response is None:
        return []
    return intake_selectors.readable(evisit.response)


@dataclass(frozen=True)
class CaseMinutes:
    """The minutes billing reads for the online digital E/M codes: those in the 7 days that
    open with the first clinician action (`window`), and all recorded."""

    minutes: int
    recorded: int
    window: tuple[date, date] | None


def case_minutes(evisit: EVisit) -> CaseMinutes:
    entries = list(evisit.time_entries.values_list("work_date", "minutes"))
    first = (
        evisit.first_action_at.astimezone(evisit.practice.zone).date()
        if evisit.first_action_at
        else None
    )
    return CaseMinutes(
        minutes=evisit_rules.minutes_in_window(entries, first),
        recorded=sum(m for _d, m in entries),
        window=evisit_rules.window(first) if first else None,
    )


# --- For billing (read by the app above; visits never imports it) ---------------------------


def completed_evisits(*, reviewed_by: datetime) -> QuerySet[EVisit]:
    """Every practice's completed cases whose clinician first acted on them at or before a
    time: a system read for billing's periodic pull, which keeps what it has not billed."""
    return (
        EVisit.objects.filter(
            state=EVisit.State.COMPLETED,
            first_action_at__isnull=False,
            first_action_at__lte=reviewed_by,
        )
        .select_related("practice", "patient__practice", "assigned_to")
        .order_by("first_action_at", "pk")
    )


@dataclass(frozen=True)
class CaseRecord:
    """The figures billing codes a case from: the local date of the first clinician action,
    the minutes by work date, photos, escalation, the local days of the patient's live visits
    in the practice from `around` days before to `around` days after that date, and whether
    the patient had a live visit in the practice between `seen_since` and the first action."""

    first_review: date | None
    entries: tuple[tuple[date, int], ...]
    photos: int
    escalated: bool
    visit_days: tuple[date, ...]
    seen_before: bool


def case_record(evisit: EVisit, *, seen_since: timedelta, around: int) -> CaseRecord:
    zone = evisit.practice.zone
    start = evisit.first_action_at or evisit.submitted_at or evisit.created_at
    held = Visit.objects.filter(
        practice_id=evisit.practice_id,
        patient_id=evisit.patient_id,
        state=Visit.State.ENDED,
        started_at__isnull=False,
    )
    nearby = held.filter(
        started_at__gte=start - timedelta(days=around + 1),
        started_at__lte=start + timedelta(days=around + 1),
    ).values_list("started_at", flat=True)
    return CaseRecord(
        first_review=evisit.first_action_at.astimezone(zone).date()
        if evisit.first_action_at
        else None,
        entries=tuple(evisit.time_entries.values_list("work_date", "minutes")),
        photos=evisit.photos.count(),
        escalated=evisit.state == EVisit.State.ESCALATED,
        visit_days=tuple(sorted(moment.astimezone(zone).date() for moment in nearby if moment)),
        seen_before=held.filter(started_at__gte=start - seen_since, started_at__lt=start).exists(),
    )
