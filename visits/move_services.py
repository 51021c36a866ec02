"""Moving a video visit from the peer-to-peer mesh to a group room on the media server.

A visit's video is a mesh of at most MAX_PARTICIPANTS browsers. When staff would bring in one
more, the visit can go on in a group session (Janus) instead: visit_move_to_group makes that
session, linked to the visit, with the visit's clinicians as hosts and its patient invited
(already admitted, as they were in the visit), opens everyone's attendance from the moment of
the move, and tells the visit's room to go there. The note, the chat and billing stay on the
visit; the session only carries the room."""

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telehealth.accounts.models import Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.realtime import broadcast_on_commit
from visits import services
from visits.models import (
    GroupAttendance,
    GroupParticipant,
    GroupSession,
    Participant,
    Presence,
    Visit,
)

# The room stays open at least this long after a move (a visit running over its booking).
MOVED_MINIMUM = timedelta(minutes=30)
# Patients the moved session admits at once: room to invite a few more from its page.
MOVED_CAPACITY = 8


class MoveRefused(services.VisitError):
    code = "move_refused"


def group_room_url(session: GroupSession) -> str:
    return reverse("visits:group-room", args=[session.pk])


def visit_move_to_group(*, visit: Visit, by: User, request=None) -> GroupSession:
    """Move the visit to a group room; its session when it has moved already (a second move,
    or two at once, answer the same one). `by` is a clinician in the visit (the caller has
    checked, as for an invitation). Takes the visit's row lock: the one-to-one link is the
    backstop when two moves race past it (SQLite serialises them anyway).

    Refused (MoveRefused) when someone in the room now could not follow: a guest who came by
    link, or a patient with no portal account (the group room needs a sign-in)."""
    try:
        with transaction.atomic():
            return _move(visit=visit, by=by, request=request)
    except IntegrityError:
        # Another move committed between our lock and insert (only without the lock's help).
        existing = GroupSession.objects.filter(visit_id=visit.pk).first()
        if existing is None:
            raise
        return existing


def _move(*, visit: Visit, by: User, request) -> GroupSession:
    visit = (
        Visit.objects.select_for_update(of=("self",))
        .select_related("patient__user", "appointment__appointment_type", "provider")
        .get(pk=visit.pk)
    )
    existing = GroupSession.objects.filter(visit=visit).first()
    if existing is not None:
        return existing
    if visit.state == Visit.State.ENDED:
        raise MoveRefused(_("This visit has ended."))
    if by.role != Role.CLINICIAN or by.practice_id != visit.practice_id:
        raise MoveRefused(_("Only a clinician of the visit's practice can move it."))
    now = timezone.now()
    participants = list(visit.participants.select_related("user"))
    connected = set(
        Presence.objects.filter(participant__visit=visit, left_at__isnull=True).values_list(
            "participant_id", flat=True
        )
    )
    if any(p.role == Participant.Role.GUEST and p.pk in connected for p in participants):
        raise MoveRefused(
            _(
                "A guest who joined by link is in the visit, and guests cannot join a group "
                "room yet. Ask them to leave first, or keep the visit as it is."
            )
        )
    patient = visit.patient
    if patient.user_id is None:
        raise MoveRefused(
            _(
                "%(patient)s has no portal account, and a group room needs one. Invite them "
                "to the portal first, or keep the visit as it is."
            )
            % {"patient": patient.display_name}
        )
    clinicians = [
        p.user
        for p in participants
        if p.role == Participant.Role.CLINICIAN
        and p.user is not None
        and p.user.role == Role.CLINICIAN
        and p.user.practice_id == visit.practice_id
    ]
    if by not in clinicians:
        clinicians.append(by)
    provider_user = visit.provider.user if visit.provider else None
    host = provider_user if provider_user in clinicians else by
    appointment = visit.appointment
    starts_at = visit.started_at or (appointment.start if appointment else now)
    ends_at = max(appointment.end if appointment else now, now + MOVED_MINIMUM)
    session = GroupSession.objects.create(
        practice_id=visit.practice_id,
        visit=visit,
        title=appointment.appointment_type.name if appointment else _("Walk-in visit"),
        host=host,
        starts_at=min(starts_at, now),
        ends_at=ends_at,
        capacity=MOVED_CAPACITY,
        modality=(GroupSession.Modality.AUDIO if visit.audio_only else GroupSession.Modality.VIDEO),
        created_by=by,
    )
    session.co_hosts.set([c for c in clinicians if c.pk != host.pk])
    GroupParticipant.objects.create(session=session, patient=patient)
    # Who is in the visit's room now goes on in the group room from this moment: the visit's
    # minutes stop here and the session's start, so no minute counts twice. An open stretch
    # is what admits a patient to the group room (group_services.group_join), so the patient
    # who was in the visit is let in without waiting, and their join reuses the stretch; a
    # patient not in the room at the move waits for a host there like any invitee.
    Presence.objects.filter(participant__visit=visit, left_at__isnull=True).update(left_at=now)
    for participant in participants:
        if participant.pk not in connected or participant.user is None:
            continue
        GroupAttendance.objects.create(
            session=session,
            user=participant.user,
            patient=patient if participant.role == Participant.Role.PATIENT else None,
            feed=secrets.randbelow(2**52) + 1,
            joined_at=now,
        )
    audit.record(
        action=Action.CREATE,
        actor=by,
        obj=session,
        patient=patient,
        request=request,
        detail=f"visit #{visit.pk} moved to a group room",
    )
    audit.record(
        action=Action.UPDATE,
        actor=by,
        obj=visit,
        patient=patient,
        request=request,
        detail=f"moved to group session #{session.pk}",
    )
    moved = {"type": "visit.event", "event": {"type": "moved", "url": group_room_url(session)}}
    broadcast_on_commit(services.room_group(visit.pk), moved)
    broadcast_on_commit(services.waiting_group(visit.pk), moved)
    return session


def moved_to(visit: Visit) -> GroupSession | None:
    """The group session the visit moved to, if it did."""
    return GroupSession.objects.filter(visit_id=visit.pk).first()
