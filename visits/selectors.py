"""Reads of visits, scoped to the acting person: a signed-in user, or a patient who opened
their join link and passed the date-of-birth check (a grant kept in their session)."""

from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from telehealth.accounts.models import Role, User
from telehealth.accounts.selectors import patients_visible_to
from visits.models import Participant, Visit, VisitNote

GRANTS_KEY = "visit_grants"  # session: {visit_id: patient_id}
GUEST_KEY = "visit_guests"  # session: {visit_id: participant_id} from a guest invitation


def visits_visible_to(user: User) -> QuerySet[Visit]:
    visits = Visit.objects.select_related("patient", "provider", "appointment", "practice")
    if not user.is_authenticated:
        return visits.none()
    if user.role == Role.PATIENT:
        return visits.filter(patient__user=user)
    if user.practice_id is None:
        return visits.none()
    if user.role == Role.CLINICIAN:
        return visits.filter(practice_id=user.practice_id, patient__in=patients_visible_to(user))
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return visits.filter(practice_id=user.practice_id)
    return visits.none()


def access_visit(*, user: User, visit_id: int) -> Visit:
    return get_object_or_404(visits_visible_to(user), pk=visit_id)


def granted_patient_visit(*, session, visit_id: int) -> Visit:
    """The visit a join-link grant in this session opens, or 404."""
    patient_id = session.get(GRANTS_KEY, {}).get(str(visit_id))
    if not patient_id:
        raise Http404
    return get_object_or_404(
        Visit.objects.select_related("patient", "provider", "practice"),
        pk=visit_id,
        patient_id=patient_id,
    )


def granted_guest_visit(*, session, visit_id: int) -> tuple[Visit, Participant]:
    """The visit and guest participant of a guest invitation redeemed in this session."""
    participant_id = session.get(GUEST_KEY, {}).get(str(visit_id))
    if not participant_id:
        raise Http404
    participant = get_object_or_404(
        Participant.objects.select_related("visit__patient", "visit__provider"),
        pk=participant_id,
        visit_id=visit_id,
        role=Participant.Role.GUEST,
    )
    return participant.visit, participant


def participant_for(*, visit: Visit, user: User | None, session) -> Participant | None:
    """Who this connection is in the visit: by user, else the patient of a session grant."""
    if user is not None and user.is_authenticated:
        found = visit.participants.filter(user=user).first()
        if found is not None or user.role != Role.PATIENT:
            return found
    if not session:
        return None
    patient_id = session.get(GRANTS_KEY, {}).get(str(visit.pk))
    if patient_id and patient_id == visit.patient_id:
        return visit.participants.filter(role=Participant.Role.PATIENT).first()
    guest_id = session.get(GUEST_KEY, {}).get(str(visit.pk))
    if guest_id:
        return visit.participants.filter(pk=guest_id, role=Participant.Role.GUEST).first()
    return None


def waiting_patients_ahead(*, visit: Visit) -> int:
    """How many patients of the same provider have waited longer (the patient's place)."""
    if visit.waiting_since is None:
        return 0
    waiting = Visit.objects.filter(state=Visit.State.WAITING, waiting_since__lt=visit.waiting_since)
    if visit.provider_id is None:
        # An untaken walk-in: `provider_id=None` would count every practice's walk-ins.
        waiting = waiting.filter(practice_id=visit.practice_id, provider__isnull=True)
    else:
        waiting = waiting.filter(provider_id=visit.provider_id)
    return waiting.count()


def walk_in_queue(*, user: User) -> QuerySet[Visit]:
    """Patients asking to be seen now, longest waiting first. Staff of their practice only:
    the queue is how a clinician outside the care team comes to see them."""
    if user.role not in (Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return Visit.objects.none()
    if user.practice_id is None:
        return Visit.objects.none()
    return (
        Visit.objects.filter(
            practice_id=user.practice_id, appointment__isnull=True, state=Visit.State.WAITING
        )
        .select_related("patient")
        .order_by("waiting_since")
    )


def patient_visit_for_summary(*, user: User, session, visit_id: int) -> Visit:
    """A patient's own ended visit, by portal login or by a grant from a join or summary
    link; 404 otherwise."""
    if user.is_authenticated and user.role == Role.PATIENT:
        visit = access_visit(user=user, visit_id=visit_id)
    elif user.is_authenticated:
        raise Http404
    else:
        visit = granted_patient_visit(session=session, visit_id=visit_id)
    if visit.state != Visit.State.ENDED:
        raise Http404
    return visit


def signed_note(visit: Visit) -> VisitNote | None:
    return (
        VisitNote.objects.filter(visit=visit, signed_at__isnull=False)
        .prefetch_related("addenda__author")
        .select_related("signed_by")
        .first()
    )


def minutes_by_participant(*, visit: Visit) -> list[tuple[Participant, int]]:
    """Each participant with the minutes they were in the room (billing's time-based codes)."""
    now = timezone.now()
    rows = []
    for participant in visit.participants.prefetch_related("presences"):
        seconds = sum(
            ((p.left_at or now) - p.joined_at).total_seconds() for p in participant.presences.all()
        )
        rows.append((participant, round(seconds / 60)))
    return rows


def previous_visits(*, user: User, visit: Visit, limit: int = 3) -> QuerySet[Visit]:
    """The patient's earlier ended visits this user may see, newest first, with their notes."""
    return (
        visits_visible_to(user)
        .filter(patient_id=visit.patient_id, state=Visit.State.ENDED)
        .exclude(pk=visit.pk)
        .select_related("note")
        .order_by("-ended_at")[:limit]
    )


def patient_visit_history(*, user: User, patient_id: int) -> QuerySet[Visit]:
    """A patient's visits for their chart, newest first."""
    return (
        visits_visible_to(user)
        .filter(patient_id=patient_id)
        .exclude(state=Visit.State.SCHEDULED)
        .select_related("provider", "note")
        .order_by("-created_at")
    )


def ended_visits(*, ended_by: datetime) -> QuerySet[Visit]:
    """Every practice's visits that ended by a time: a system read for the periodic jobs that
    work on finished visits (billing pulls these and keeps what it has not billed)."""
    return (
        Visit.objects.filter(state=Visit.State.ENDED, ended_at__lte=ended_by)
        .select_related("practice", "patient", "provider__user", "appointment")
        .order_by("ended_at", "pk")
    )


def seen_before(*, visit: Visit, since: datetime) -> bool:
    """Whether the patient had an ended visit in the practice, with a clinician of the same
    specialty, between `since` and this visit's start (new versus established patient)."""
    started = visit.started_at or visit.created_at
    earlier = Visit.objects.filter(
        practice_id=visit.practice_id,
        patient_id=visit.patient_id,
        state=Visit.State.ENDED,
        ended_at__gte=since,
        ended_at__lt=started,
    ).exclude(pk=visit.pk)
    if visit.provider is not None:
        earlier = earlier.filter(provider__specialty=visit.provider.specialty)
    return earlier.exists()


def clinician_minutes(*, visit: Visit) -> int:
    """Minutes the visit's clinician was in the room, from their recorded presence."""
    if visit.provider is None:
        return 0
    return sum(
        minutes
        for participant, minutes in minutes_by_participant(visit=visit)
        if participant.user_id == visit.provider.user_id
    )


def note_is_signed(visit: Visit) -> bool:
    return VisitNote.objects.filter(visit=visit, signed_at__isnull=False).exists()
