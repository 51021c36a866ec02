"""Writes of group sessions: scheduling them (staff), and the room (join, leave, host
controls). The room's media go through Janus (visits/janus.py); these functions decide who
may be in it, place its room on an instance, and keep the attendance minutes.

A join checks its room in Janus before taking the session's row lock, and calls Janus under
the lock only to create (or recreate) the room: the lock is what makes two first joins create
one room, and what keeps the room within capacity. Removing or uninviting a patient changes
the room's pin under the lock, so the pin a join hands out is always the current one. The
calls are bounded by visits.janus.TIMEOUT_SECONDS."""

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.calendar import local_text
from telehealth.accounts.models import Patient, Role, User
from telehealth.audit import services as audit
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from visits import group_live, group_messages, janus
from visits import group_selectors as selectors
from visits.ice import ice_servers
from visits.models import GroupAttendance, GroupParticipant, GroupSession


class GroupRefused(Exception):
    """The person may not (or cannot now) do this; the message says why, `status` what to
    answer over HTTP. A media server that is missing, down or refusing is a 409 with its
    reason too: the browser shows it, and a 5xx would read as our own failure."""

    def __init__(self, message: str, *, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RoomPass:
    """What a browser needs to enter the room: where, which room, and its credentials."""

    ws_url: str
    instance: str
    room: int
    pin: str
    token: str
    feed: int
    display: str
    attendance_id: int
    host: bool
    ice_servers: list[dict]

    def as_json(self) -> dict:
        return {
            "ws_url": self.ws_url,
            "instance": self.instance,
            "room": self.room,
            "pin": self.pin,
            "token": self.token,
            "feed": self.feed,
            "display": self.display,
            "attendance_id": self.attendance_id,
            "host": self.host,
            "ice_servers": self.ice_servers,
        }


# --- Scheduling -------------------------------------------------------------------------------


def group_session_create(
    *,
    by: User,
    title: str,
    host: User,
    co_hosts: list[User],
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    modality: str,
    patients: list[Patient],
    open_for_booking: bool = False,
    request=None,
) -> GroupSession:
    """Callers pass people of `by`'s practice (the form offers no others)."""
    _check_people(by=by, host=host, co_hosts=co_hosts, patients=patients)
    practice = by.practice
    if practice is None:
        raise GroupRefused(_("Only staff of a practice schedule group sessions."), status=403)
    with transaction.atomic():
        session = GroupSession.objects.create(
            practice=practice,
            title=title,
            host=host,
            starts_at=starts_at,
            ends_at=ends_at,
            capacity=capacity,
            open_for_booking=open_for_booking,
            modality=modality,
            created_by=by,
        )
        session.co_hosts.set([c for c in co_hosts if c.pk != host.pk])
        GroupParticipant.objects.bulk_create(
            GroupParticipant(session=session, patient=patient) for patient in patients
        )
        group_messages.queue_place_messages(_places(session), session)
        audit.record(action="create", actor=by, obj=session, request=request)
        for patient in patients:
            audit.record(
                action="create",
                actor=by,
                obj=session,
                patient=patient,
                request=request,
                detail="invited to a group session",
            )
    return session


def group_session_update(
    *,
    session: GroupSession,
    by: User,
    title: str,
    host: User,
    co_hosts: list[User],
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    modality: str,
    patients: list[Patient],
    open_for_booking: bool = False,
    request=None,
) -> GroupSession:
    """Change the session; patients left out of `patients` are uninvited (their attendance,
    if any, stays)."""
    _check_people(by=by, host=host, co_hosts=co_hosts, patients=patients)
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        if session.state == GroupSession.State.CANCELLED:
            raise GroupRefused(_("This group session was cancelled."))
        publishers_before = _publishers(session)
        moved = (session.starts_at, session.ends_at) != (starts_at, ends_at)
        session.title, session.host, session.capacity, session.modality = (
            title,
            host,
            capacity,
            modality,
        )
        session.starts_at, session.ends_at = starts_at, ends_at
        session.open_for_booking = open_for_booking
        session.save(
            update_fields=[
                *("title", "host", "capacity", "modality", "starts_at", "ends_at"),
                "open_for_booking",
            ]
        )
        session.co_hosts.set([c for c in co_hosts if c.pk != host.pk])
        wanted = {p.pk: p for p in patients}
        current = set(session.invitees.values_list("patient_id", flat=True))
        session.invitees.exclude(patient_id__in=wanted).delete()
        GroupParticipant.objects.bulk_create(
            GroupParticipant(session=session, patient=wanted[pk]) for pk in wanted.keys() - current
        )
        # Everyone hears of a new time; newcomers of their place. Messages about the old
        # time that are still queued are withdrawn.
        places = _places(session)
        if moved:
            group_messages.withdraw_messages(places)
        else:
            places = [p for p in places if p.patient_id not in current]
        group_messages.queue_place_messages(places, session)
        uninvited = current - wanted.keys()
        inside = list(
            GroupAttendance.objects.filter(
                session=session, patient_id__in=uninvited, left_at__isnull=True
            )
        )
        GroupAttendance.objects.filter(pk__in=[s.pk for s in inside]).update(left_at=timezone.now())
        for stretch in inside:
            group_live.tell_removed(session=session, attendance=stretch)
        publishers = _publishers(session)
        instance = _edit_room(
            session,
            new_pin=bool(uninvited),
            new_publishers=publishers if publishers != publishers_before else None,
        )
        audit.record(action="update", actor=by, obj=session, request=request)
        for patient in Patient.objects.filter(pk__in=wanted.keys() ^ current):
            audit.record(
                action="update",
                actor=by,
                obj=session,
                patient=patient,
                request=request,
                detail="invited" if patient.pk in wanted else "uninvited",
            )
    if instance is not None:
        for stretch in inside:
            _kick(session, instance, stretch.feed)
    return session


def _publishers(session: GroupSession) -> int:
    """Publishers the room must admit: the patients' capacity, the host and co-hosts."""
    return session.capacity + 1 + session.co_hosts.exclude(pk=session.host_id).count()


def _edit_room(
    session: GroupSession, *, new_pin: bool, new_publishers: int | None
) -> janus.Instance | None:
    """Change the session's live room, if it has one: a fresh pin (the old one no longer
    admits anyone; the next group_join hands out the new one) and/or its publisher limit.
    The room's instance, or None when there is no room to change (a later join creates one
    with fresh credentials). Precondition: the session's row is locked."""
    instance = janus.instance_named(session.janus_instance)
    if instance is None or not session.janus_room or not (new_pin or new_publishers):
        return instance
    pin = secrets.token_urlsafe(12) if new_pin else None
    try:
        janus.room_edit(
            instance=instance,
            room=session.janus_room,
            secret=session.room_secret,
            new_pin=pin,
            new_publishers=new_publishers,
        )
    except janus.JanusError as error:
        if error.code == janus.NO_SUCH_ROOM:
            return None
        raise GroupRefused(str(error)) from error
    if pin is not None:
        session.room_pin = pin
        session.save(update_fields=["room_pin"])
    return instance


def _kick(session: GroupSession, instance: janus.Instance, feed: int) -> None:
    """Send a feed out of the room, then make sure Janus no longer lists it. Janus closes
    the subscriptions a kicked participant opened (rooms require `private_id`, see
    janus.room_create), so those go too. So do participants no open stretch accounts for:
    our page joins Janus once, with the feed its join answered, but a modified client may
    have joined a second time with the pin it held, to tie its subscriptions to a feed the
    app does not know. (Janus is asked first: a stretch is committed before its holder
    can join Janus, so everyone Janus lists who belongs is in the stretches read after.)"""
    room = int(session.janus_room or 0)
    try:
        listed = {p["id"] for p in janus.participants(instance=instance, room=room) if "id" in p}
        expected = set(
            GroupAttendance.objects.filter(session=session, left_at__isnull=True).values_list(
                "feed", flat=True
            )
        )
        leaving = {feed} | (listed - expected)
        for each in sorted(leaving):
            janus.participant_kick(
                instance=instance, room=room, secret=session.room_secret, feed=each
            )
        still_there = any(
            p.get("id") in leaving for p in janus.participants(instance=instance, room=room)
        )
    except janus.JanusError as error:
        if error.code == janus.NO_SUCH_ROOM:
            return
        raise GroupRefused(str(error)) from error
    if still_there:
        raise GroupRefused(_("The media server still lists them in the room. Try again."))


def group_session_cancel(*, session: GroupSession, by: User, request=None) -> GroupSession:
    """Cancel the session; its room, if it has one, is destroyed after commit."""
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        if session.state == GroupSession.State.CANCELLED:
            return session
        session.state = GroupSession.State.CANCELLED
        session.cancelled_at = timezone.now()
        session.save(update_fields=["state", "cancelled_at"])
        GroupAttendance.objects.filter(session=session, left_at__isnull=True).update(
            left_at=session.cancelled_at
        )
        audit.record(action="update", actor=by, obj=session, request=request, detail="cancelled")
        _message_cancelled(session)  # by text or email
        group_live.tell_cancelled(session=session)  # the room's open pages
        instance = janus.instance_named(session.janus_instance)
        if instance is not None and session.janus_room:
            room, secret = session.janus_room, session.room_secret
            transaction.on_commit(lambda: _destroy_quietly(instance, room, secret))
    return session


def _places(session: GroupSession) -> list[GroupParticipant]:
    """The places still held (not removed), with their patients, as messages need them."""
    return list(
        session.invitees.filter(removed_at__isnull=True).select_related("patient__practice")
    )


def _message_cancelled(session: GroupSession) -> None:
    """Each patient with a place hears it is off, unless it has already started; what was
    still queued about it is withdrawn."""
    places = _places(session)
    group_messages.withdraw_messages(places)
    if session.starts_at <= timezone.now():
        return
    notify.patient_notices_enqueue(
        practice=session.practice,
        key=group_messages.CANCELLED_KEY,
        notices=[
            notify.Notice(
                patient=place.patient,
                dedupe_key=f"group:{place.pk}:cancelled",
                context={
                    **practice_context(place.patient),
                    "provider_name": session.host.full_name,
                    "start_local": local_text(session.starts_at, place.patient),
                },
                related=place,
            )
            for place in places
        ],
    )


def _destroy_quietly(instance: janus.Instance, room: int, secret: str) -> None:
    # An instance that is gone took the room with it: Janus rooms are not permanent.
    with contextlib.suppress(janus.JanusError):
        janus.room_destroy(instance=instance, room=room, secret=secret)


def group_seat_book(*, session: GroupSession, patient: Patient, request=None) -> GroupParticipant:
    """The patient books a place in a session open for booking, while fewer than its
    capacity are invited or booked. The session's row lock gives the last place to one
    patient."""
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        if not session.open_for_booking or session.practice_id != patient.practice_id:
            raise GroupRefused(_("This group session is not open for booking."), status=403)
        if session.state == GroupSession.State.CANCELLED:
            raise GroupRefused(_("This group session was cancelled."))
        if session.starts_at <= timezone.now():
            raise GroupRefused(_("This group session has already started."))
        existing = session.invitees.filter(patient=patient).first()
        if existing is not None and existing.removed_at is not None:
            raise GroupRefused(_("A host removed you from this group session."), status=403)
        if existing is not None:
            raise GroupRefused(_("You already have a place in this group session."))
        if session.invitees.filter(removed_at__isnull=True).count() >= session.capacity:
            raise GroupRefused(_("This group session is full."))
        now = timezone.now()
        seat = GroupParticipant.objects.create(
            session=session, patient=patient, invited_at=now, booked_at=now
        )
        group_messages.queue_place_messages([seat], session)
        audit.record(
            action="create",
            actor=patient.user,
            obj=session,
            patient=patient,
            request=request,
            detail="booked a seat in a group session",
        )
    return seat


def group_seat_cancel(*, invitation: GroupParticipant, request=None) -> None:
    """The patient gives up their place (booked or invited) before the session starts; a
    place they booked goes back to the others."""
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=invitation.session_id)
        if invitation.removed_at is not None:  # the mark that keeps them out stays
            raise GroupRefused(_("A host removed you from this group session."), status=403)
        if session.starts_at <= timezone.now():
            raise GroupRefused(_("This group session has already started."))
        group_messages.withdraw_messages([invitation])
        deleted, _rows = GroupParticipant.objects.filter(pk=invitation.pk).delete()
        if not deleted:
            raise GroupRefused(_("You no longer have a place in this group session."))
        patient = invitation.patient
        audit.record(
            action="delete",
            actor=patient.user,
            obj=session,
            patient=patient,
            request=request,
            detail="gave up a place in a group session",
        )


def group_name_choose(
    *, invitation: GroupParticipant, show_full_name: bool, request=None
) -> GroupParticipant:
    """The patient chooses whether others in the room see their full name or first name."""
    with transaction.atomic():
        invitation.show_full_name = show_full_name
        invitation.save(update_fields=["show_full_name"])
        audit.record(
            action="update",
            actor=invitation.patient.user,
            obj=invitation.session,
            patient=invitation.patient,
            request=request,
            detail="full name shown" if show_full_name else "first name shown",
        )
    return invitation


def _check_people(*, by: User, host: User, co_hosts: list[User], patients: list[Patient]):
    practice = by.practice_id
    for clinician in [host, *co_hosts]:
        if clinician.role != Role.CLINICIAN or clinician.practice_id != practice:
            raise GroupRefused(_("Hosts must be clinicians of your practice."), status=400)
    if any(patient.practice_id != practice for patient in patients):
        raise GroupRefused(_("Only patients of your practice can be invited."), status=400)


# --- The room ---------------------------------------------------------------------------------


def group_join(*, session: GroupSession, user: User, request=None) -> RoomPass:
    """Let an admitted patient, the host or a co-host into the room: checks the session is
    open and a patient was admitted (a host opened their stretch: group_live.group_admit),
    makes sure its Janus room exists (creating it on the least-loaded instance, or again
    elsewhere when its instance is gone), opens a host's attendance stretch and hands back
    a signed token. Joining again while in the room (a reload, a rejoin after a
    move) keeps the same stretch. The caller has checked `user` takes part (selectors)."""
    if not janus.instances():
        raise GroupRefused(
            _("Group sessions need a media server, and none is configured (see docs/deploy.md)."),
            status=409,
        )
    seen_alive = _live_room(session)  # outside the lock: joins do not queue behind HTTP calls
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        if not selectors.is_open(session):
            raise GroupRefused(_("This group session is not open now."))
        invitation = None
        if user.role == Role.PATIENT:
            invitation = session.invitees.select_related("patient").get(patient__user=user)
            if invitation.removed_at is not None:
                raise GroupRefused(_("The host removed you from this group session."), status=403)
        open_stretches = GroupAttendance.objects.filter(session=session, left_at__isnull=True)
        stretch = open_stretches.filter(user=user).first()
        if stretch is None and invitation is not None:
            # A patient's stretch opens when a host admits them (group_live.group_admit,
            # which keeps the room within capacity): until then they wait.
            raise GroupRefused(_("Wait until the host lets you in."), status=403)
        instance = None
        if seen_alive == (session.janus_instance, session.janus_room):
            instance = janus.instance_named(session.janus_instance)
        if instance is None:
            instance = _room_of(session)
        if stretch is None:
            stretch = GroupAttendance.objects.create(
                session=session,
                user=user,
                patient=invitation.patient if invitation else None,
                feed=secrets.randbelow(2**52) + 1,
            )
        audit.record(
            action="view",
            actor=user,
            obj=session,
            patient=invitation.patient if invitation else None,
            request=request,
            detail="joined the group session",
        )
        return RoomPass(
            ws_url=instance.ws_url,
            instance=instance.name,
            room=int(session.janus_room or 0),
            pin=session.room_pin,
            token=janus.token_for(instance=instance, seconds=_token_seconds(session)),
            feed=stretch.feed,
            display=selectors.display_name(invitation, user),
            attendance_id=stretch.pk,
            host=invitation is None,
            ice_servers=ice_servers(user_id=str(user.pk)),
        )


# A token outlives the session's end by this much (an overrun), never JANUS_TOKEN_SECONDS.
TOKEN_MARGIN_SECONDS = 15 * 60


def _token_seconds(session: GroupSession) -> int:
    remaining = (session.ends_at - timezone.now()).total_seconds()
    return max(60, min(settings.JANUS_TOKEN_SECONDS, int(remaining) + TOKEN_MARGIN_SECONDS))


def _live_room(session: GroupSession) -> tuple[str, int] | None:
    """(instance, room) when the session's room answers as existing, else None."""
    instance = janus.instance_named(session.janus_instance)
    if instance is None or not session.janus_room:
        return None
    try:
        if janus.room_exists(instance=instance, room=session.janus_room):
            return instance.name, session.janus_room
    except janus.JanusError:
        pass
    return None


def _room_of(session: GroupSession) -> janus.Instance:
    """The instance holding the session's room, after making sure the room is there.
    Precondition: the session's row is locked (this may write it)."""
    current = janus.instance_named(session.janus_instance)
    if current is not None and session.janus_room:
        try:
            if janus.room_exists(instance=current, room=session.janus_room):
                return current
            # The instance restarted and lost its rooms: the same room again, same place.
            _create_room(session, current)
            return current
        except janus.JanusUnavailable:
            pass
    lost = current.name if current is not None else None
    for candidate in _by_load(exclude=lost):
        try:
            _create_room(session, candidate)
        except janus.JanusUnavailable:
            continue
        return candidate
    raise GroupRefused(_("No media server answers at the moment. Try again shortly."))


def _by_load(*, exclude: str | None) -> list[janus.Instance]:
    """Configured instances, fewest live rooms first (the rooms this app placed on each,
    for sessions not over yet); ties keep the configured order."""
    load = dict(
        GroupSession.objects.filter(
            state=GroupSession.State.SCHEDULED,
            janus_room__isnull=False,
            ends_at__gt=timezone.now(),
        )
        .exclude(janus_instance="")
        .values_list("janus_instance")
        .annotate(n=Count("id"))
    )
    candidates = [i for i in janus.instances() if i.name != exclude]
    return sorted(candidates, key=lambda i: load.get(i.name, 0))


def _create_room(session: GroupSession, instance: janus.Instance) -> None:
    """A new room for the session on `instance`, with fresh credentials (clients that were in
    the old one rejoin with what their next join answers)."""
    room = session.janus_room if session.janus_instance == instance.name else None
    room = room or secrets.randbelow(2**52) + 1  # stays exact in JavaScript numbers
    pin, secret = secrets.token_urlsafe(12), secrets.token_urlsafe(18)
    try:
        janus.room_create(
            instance=instance,
            room=room,
            pin=pin,
            secret=secret,
            publishers=_publishers(session),
            description=f"Group session {session.pk}",
        )
    except janus.JanusUnavailable:
        raise
    except janus.JanusError as error:
        raise GroupRefused(str(error)) from error
    session.janus_instance, session.janus_room = instance.name, room
    session.room_pin, session.room_secret = pin, secret
    session.save(update_fields=["janus_instance", "janus_room", "room_pin", "room_secret"])
    # Stretches open in a lost room go on in the new one: the people rejoin.


def group_leave(*, session: GroupSession, user: User) -> GroupAttendance | None:
    """Close the user's open stretch in the room (none open: nothing to do)."""
    with transaction.atomic():
        stretch = (
            GroupAttendance.objects.select_for_update()
            .filter(session=session, user=user, left_at__isnull=True)
            .first()
        )
        if stretch is None:
            return None
        stretch.left_at = timezone.now()
        stretch.save(update_fields=["left_at"])
        group_live.tell_left(session=session, stretch=stretch)
        return stretch


def _host_instance(session: GroupSession, by: User) -> janus.Instance:
    if not selectors.is_host(session, by):
        raise GroupRefused(_("Only the host and co-hosts can do this."), status=403)
    instance = janus.instance_named(session.janus_instance)
    if instance is None or not session.janus_room:
        raise GroupRefused(_("The room is not open."))
    return instance


def group_remove(
    *, session: GroupSession, by: User, attendance: GroupAttendance, request=None
) -> GroupAttendance:
    """The host sends someone out of the room, and a patient stays out: their invitation is
    marked removed (group_join refuses them), the room gets a new pin before Janus drops
    them (the pin they hold no longer admits anyone), and their stretch ends. Hosts and
    co-hosts removed may come back. Done again, it kicks again (after a kick that failed)."""
    _host_instance(session, by)
    if attendance.user_id == by.pk:
        raise GroupRefused(_("You cannot remove yourself."), status=400)
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        now = timezone.now()
        GroupAttendance.objects.filter(pk=attendance.pk, left_at__isnull=True).update(left_at=now)
        if attendance.patient_id is not None:
            session.invitees.filter(
                patient_id=attendance.patient_id, removed_at__isnull=True
            ).update(removed_at=now)
        instance = _edit_room(
            session, new_pin=attendance.patient_id is not None, new_publishers=None
        )
        audit.record(
            action="update",
            actor=by,
            obj=session,
            patient=attendance.patient,
            request=request,
            detail="removed from the group session",
        )
    if instance is not None:
        _kick(session, instance, attendance.feed)
    attendance.refresh_from_db()
    return attendance


# Our room page publishes the microphone as the first m-line: Janus moderates by mid.
AUDIO_MID = "0"


def group_mute(
    *, session: GroupSession, by: User, attendance: GroupAttendance, mute: bool, request=None
) -> None:
    """The host stops (or lets again) everyone hearing a participant's microphone."""
    instance = _host_instance(session, by)
    try:
        janus.participant_mute(
            instance=instance,
            room=int(session.janus_room or 0),
            secret=session.room_secret,
            feed=attendance.feed,
            mid=AUDIO_MID,
            mute=mute,
        )
    except janus.JanusError as error:
        raise GroupRefused(str(error)) from error
    audit.record(
        action="update",
        actor=by,
        obj=session,
        patient=attendance.patient,
        request=request,
        detail="muted in the group session" if mute else "unmuted in the group session",
    )
    group_live.tell_muted(session=session, attendance=attendance, muted=mute)
