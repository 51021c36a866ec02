"""Reads of e-visits, scoped to the acting user. A patient sees their own cases; a clinician
sees the practice's submitted cases nobody has taken (the queue) and the cases assigned to
them. Nobody else sees a case: not the front desk, not admins, not other clinicians."""

from dataclasses import dataclass
from datetime import date

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from intake import selectors as intake_selectors
from telehealth.accounts.models import Patient, Role, User
from visits import evisit_rules
from visits.models import EVisit, EVisitCondition, EVisitMessage, EVisitPhoto

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
