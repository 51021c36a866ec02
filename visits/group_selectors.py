"""Reads of group sessions, scoped to the acting user. Staff see their practice's sessions;
a patient sees the sessions they are invited to; the room itself (join, leave) is for the
invited patients, the host and the co-hosts. Others get 404."""

from datetime import timedelta

from django.db.models import Count, F, Min, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from telehealth.accounts.models import STAFF_ROLES, Role, User
from visits.models import GroupAttendance, GroupChatMessage, GroupParticipant, GroupSession

# Patients may come in this early, to check their camera before the start.
EARLY_JOIN = timedelta(minutes=15)


def group_sessions_visible_to(user: User) -> QuerySet[GroupSession]:
    sessions = GroupSession.objects.select_related("host", "practice")
    if not user.is_authenticated:
        return sessions.none()
    if user.role == Role.PATIENT:
        return sessions.filter(invitees__patient__user=user)
    if user.role in STAFF_ROLES and user.practice_id is not None:
        return sessions.filter(practice_id=user.practice_id)
    return sessions.none()


def access_group_session(*, user: User, session_id: int) -> GroupSession:
    return get_object_or_404(group_sessions_visible_to(user), pk=session_id)


def group_rooms_of(user: User) -> QuerySet[GroupSession]:
    """The sessions whose room `user` takes part in: invited patients, the host, co-hosts."""
    sessions = group_sessions_visible_to(user)
    if user.is_authenticated and user.role == Role.CLINICIAN:
        return sessions.filter(Q(host=user) | Q(co_hosts=user)).distinct()
    if not (user.is_authenticated and user.role == Role.PATIENT):
        return sessions.none()
    return sessions


def access_group_room(*, user: User, session_id: int) -> GroupSession:
    """The session, for someone who takes part: an invited patient, the host or a co-host."""
    return get_object_or_404(group_rooms_of(user), pk=session_id)


def access_group_invitation(*, user: User, session_id: int) -> GroupParticipant:
    """A patient's own invitation to a session."""
    invitations = GroupParticipant.objects.select_related("session", "patient")
    if not (user.is_authenticated and user.role == Role.PATIENT):
        invitations = invitations.none()
    return get_object_or_404(invitations, session_id=session_id, patient__user=user)


def is_host(session: GroupSession, user: User) -> bool:
    return session.host_id == user.pk or session.co_hosts.filter(pk=user.pk).exists()


def is_open(session: GroupSession, *, now=None) -> bool:
    now = now or timezone.now()
    return (
        session.state == GroupSession.State.SCHEDULED
        and session.starts_at - EARLY_JOIN <= now < session.ends_at
    )


def staff_group_sessions(user: User) -> QuerySet[GroupSession]:
    """The practice's sessions that have not ended, soonest first."""
    return group_sessions_visible_to(user).filter(ends_at__gt=timezone.now())


def patient_group_invitations(user: User) -> QuerySet[GroupParticipant]:
    """The patient's invitations to sessions that have not ended or been cancelled."""
    if not (user.is_authenticated and user.role == Role.PATIENT):
        return GroupParticipant.objects.none()
    return (
        GroupParticipant.objects.filter(
            patient__user=user,
            session__state=GroupSession.State.SCHEDULED,
            session__ends_at__gt=timezone.now(),
        )
        .select_related("session__host")
        .order_by("session__starts_at")
    )


def bookable_group_sessions(user: User) -> QuerySet[GroupSession]:
    """Sessions of the patient's practice open for booking that have not started and that
    the patient has no place in (nor was removed from), soonest first, each with
    `places_left` (its capacity less the places invited or booked)."""
    if not (user.is_authenticated and user.role == Role.PATIENT):
        return GroupSession.objects.none()
    return (
        GroupSession.objects.filter(
            practice__patients__user=user,
            open_for_booking=True,
            state=GroupSession.State.SCHEDULED,
            starts_at__gt=timezone.now(),
        )
        .exclude(invitees__patient__user=user)
        .select_related("host")
        .annotate(taken=Count("invitees", filter=Q(invitees__removed_at__isnull=True)))
        .annotate(places_left=F("capacity") - F("taken"))
        .order_by("starts_at", "pk")
    )


def access_bookable_group_session(*, user: User, session_id: int) -> GroupSession:
    """A session of the patient's own practice open for booking (full or not: booking says
    why it cannot be booked)."""
    sessions = GroupSession.objects.none()
    if user.is_authenticated and user.role == Role.PATIENT:
        sessions = GroupSession.objects.filter(practice__patients__user=user, open_for_booking=True)
    return get_object_or_404(sessions, pk=session_id)


def roster(session: GroupSession) -> QuerySet[GroupParticipant]:
    return session.invitees.select_related("patient").order_by("patient__legal_name")


def attendance_minutes(*, session: GroupSession) -> dict[int, int]:
    """Minutes each person spent in the room, by user id: whole stretches added up, then
    rounded once (a stretch still open counts up to now). Billing reads this."""
    now = timezone.now()
    seconds: dict[int, float] = {}
    for stretch in GroupAttendance.objects.filter(session=session):
        length = ((stretch.left_at or now) - stretch.joined_at).total_seconds()
        seconds[stretch.user_id] = seconds.get(stretch.user_id, 0) + max(length, 0)
    return {user_id: round(total / 60) for user_id, total in seconds.items()}


def access_attendance(*, session: GroupSession, attendance_id: int) -> GroupAttendance:
    """A stretch in the session's room still open (host controls act on these)."""
    return get_object_or_404(
        GroupAttendance.objects.select_related("user"),
        session=session,
        pk=attendance_id,
        left_at__isnull=True,
    )


def display_name(invitation: GroupParticipant | None, user: User) -> str:
    """What others in the room see: a patient's first name unless they chose their full name;
    staff by their name."""
    if invitation is None:
        return user.full_name
    patient = invitation.patient
    if invitation.show_full_name:
        return patient.legal_name
    return patient.preferred_name or (patient.legal_name.split() or [""])[0]


def people_in_room(session: GroupSession) -> list[dict]:
    """Who is in the room now (open stretches), as the host's page needs them to act on a
    tile: the Janus feed it shows, the attendance the controls take, the name others see."""
    stretches = (
        GroupAttendance.objects.filter(session=session, left_at__isnull=True)
        .select_related("user")
        .order_by("joined_at")
    )
    invitations = {i.patient_id: i for i in session.invitees.select_related("patient").order_by()}
    return [
        {
            "attendance_id": s.pk,
            "feed": s.feed,
            "display": display_name(invitations.get(s.patient_id or 0), s.user),
            "patient": s.patient,
        }
        for s in stretches
    ]


def waiting_invitations(session: GroupSession) -> list[GroupParticipant]:
    """Patients in the waiting room now (a socket open, not admitted, not removed), in the
    order they first arrived."""
    inside = GroupAttendance.objects.filter(
        session=session, left_at__isnull=True, patient__isnull=False
    ).values("patient_id")
    return list(
        session.invitees.filter(waiting__isnull=False, removed_at__isnull=True)
        .exclude(patient_id__in=inside)
        .select_related("patient")
        .annotate(first_since=Min("waiting__since"))
        .order_by("first_since", "id")
    )


def raised_hands(session: GroupSession) -> list[GroupAttendance]:
    """People in the room with a hand up, in the order they raised it."""
    return list(
        GroupAttendance.objects.filter(
            session=session, left_at__isnull=True, hand_raised_at__isnull=False
        )
        .select_related("user", "patient")
        .order_by("hand_raised_at", "id")
    )


def names_by_patient(session: GroupSession) -> dict[int, GroupParticipant]:
    return {i.patient_id: i for i in session.invitees.select_related("patient").order_by()}


# A socket entering the room gets the room's latest messages, at most this many.
CHAT_HISTORY = 50


def recent_chat(session: GroupSession) -> list[GroupChatMessage]:
    newest = GroupChatMessage.objects.filter(session=session).select_related("sender")
    return list(reversed(newest.order_by("-sent_at", "-id")[:CHAT_HISTORY]))
