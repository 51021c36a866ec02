"""The live side of a group session's room, carried by its socket (visits/group_consumers.py):
the waiting room and admission, chat, raised hands, and telling people what a host did to
them (muted, removed). Writes are services in the usual shape: one transaction, audited,
pushes after commit.

Who hears what travels on three channel-layer groups per session: everyone with the room's
page open (chat, which each socket passes on only once its person is in the room), the hosts
(the waiting list and raised hands changed: each host's socket reads them afresh), and each
person (you were admitted, muted, removed; your hand was lowered)."""

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telehealth.accounts.models import Role, User
from telehealth.audit import services as audit
from telehealth.realtime import broadcast_on_commit
from visits import group_selectors as selectors
from visits import group_services
from visits.models import (
    GroupAttendance,
    GroupChatMessage,
    GroupParticipant,
    GroupSession,
    GroupWaiting,
)

MAX_CHAT = 2000  # as the visit chat (visits.services.chat_post)


def room_group(session_id: int) -> str:
    return f"group-session.{session_id}"


def hosts_group(session_id: int) -> str:
    return f"group-session.{session_id}.hosts"


def person_group(session_id: int, user_id: int) -> str:
    return f"group-session.{session_id}.user.{user_id}"


def _to_person(session_id: int, user_id: int, event: dict) -> None:
    broadcast_on_commit(person_group(session_id, user_id), {"type": "group.event", "event": event})


def _hosts_refresh(session_id: int) -> None:
    """Hosts' sockets read the waiting list and raised hands again (never a stale copy)."""
    broadcast_on_commit(hosts_group(session_id), {"type": "group.refresh"})


def _refused(message: str, status: int) -> Exception:
    return group_services.GroupRefused(message, status=status)


# --- Waiting room and admission ---------------------------------------------------------------


def waiting_arrive(
    *, session: GroupSession, invitation: GroupParticipant, channel: str
) -> GroupWaiting:
    """A patient's socket opened the room's page before being admitted: they wait. Their
    first socket's arrival is audited (a later tab is the same arrival)."""
    with transaction.atomic():
        first = not invitation.waiting.exists()
        waiting = GroupWaiting.objects.create(invitation=invitation, channel=channel)
        if first:
            audit.record(
                action="view",
                actor=invitation.patient.user,
                obj=session,
                patient=invitation.patient,
                detail="entered the group waiting room",
            )
        _hosts_refresh(session.pk)
    return waiting


def waiting_depart(*, session_id: int, channel: str) -> None:
    """A waiting socket closed (nothing to do if it was not waiting)."""
    with transaction.atomic():
        deleted, _rows = GroupWaiting.objects.filter(channel=channel).delete()
        if deleted:
            _hosts_refresh(session_id)


@dataclass(frozen=True)
class Admitted:
    people: list[GroupParticipant]
    left_waiting: int  # still waiting because the room is full


def group_admit(
    *, session: GroupSession, by: User, invitation_id: int | None = None, request=None
) -> Admitted:
    """A host lets one waiting patient in (`invitation_id`) or everyone waiting (None), as
    far as the room's capacity goes: each gets their attendance stretch now (minutes count
    from admission, not arrival), and their page hears it and joins the media room. Takes
    the session's row lock, as group_join does, so admissions never pass the capacity."""
    with transaction.atomic():
        session = GroupSession.objects.select_for_update().get(pk=session.pk)
        # Asked of the session as it is now: a socket opened by a host keeps its session as
        # it was, and the host may have been changed since.
        if not selectors.is_host(session, by):
            raise _refused(_("Only the host and co-hosts can do this."), 403)
        if not selectors.is_open(session):
            raise _refused(_("This group session is not open now."), 409)
        waiting = selectors.waiting_invitations(session)
        if invitation_id is not None:
            waiting = [w for w in waiting if w.pk == invitation_id]
            if not waiting:
                raise _refused(_("That person is no longer waiting."), 409)
        inside = GroupAttendance.objects.filter(
            session=session, left_at__isnull=True, patient__isnull=False
        ).count()
        free = max(session.capacity - inside, 0)
        if waiting and not free:
            raise _refused(_("This group session is full."), 409)
        admitted = waiting[:free]
        now = timezone.now()
        GroupAttendance.objects.bulk_create(
            GroupAttendance(
                session=session,
                user=invitation.patient.user,
                patient=invitation.patient,
                feed=secrets.randbelow(2**52) + 1,
                joined_at=now,
            )
            for invitation in admitted
            if invitation.patient.user is not None
        )
        GroupWaiting.objects.filter(invitation__in=admitted).delete()
        if admitted:
            audit.record_many(
                action="update",
                actor=by,
                objects=[(session, invitation.patient) for invitation in admitted],
                request=request,
                detail="admitted to the group session",
            )
        for invitation in admitted:
            if invitation.patient.user_id is not None:
                _to_person(session.pk, invitation.patient.user_id, {"type": "admitted"})
        _hosts_refresh(session.pk)
    return Admitted(people=admitted, left_waiting=len(waiting) - len(admitted))


# --- Chat -------------------------------------------------------------------------------------


def group_chat_post(*, session: GroupSession, user: User, body: str) -> GroupChatMessage:
    """A message to everyone in the room, stored encrypted and audited as a write by its
    sender. Hosts may write before they join the media; patients once admitted."""
    body = body.strip() if isinstance(body, str) else ""
    if not body:
        raise _refused(_("Type a message first."), 400)
    if len(body) > MAX_CHAT:
        raise _refused(_("Messages are limited to 2,000 characters."), 400)
    invitation = _inside_or_host(session, user)
    with transaction.atomic():
        message = GroupChatMessage.objects.create(
            session=session,
            sender=user,
            patient=invitation.patient if invitation else None,
            body=body,
        )
        audit.record(
            action="create",
            actor=user,
            obj=session,
            patient=invitation.patient if invitation else None,
            detail="chat message in the group session",
        )
        broadcast_on_commit(
            room_group(session.pk),
            {"type": "group.event", "room_only": True, "event": chat_frame(message, invitation)},
        )
    return message


def chat_frame(message: GroupChatMessage, invitation: GroupParticipant | None) -> dict:
    """A message as pages show it: the name others in the room see (first names unless the
    patient chose their full name)."""
    return {
        "type": "chat",
        "id": message.pk,
        "name": selectors.display_name(invitation, message.sender),
        "body": message.body,
        "at": timezone.localtime(message.sent_at).isoformat(),
    }


def _inside_or_host(session: GroupSession, user: User) -> GroupParticipant | None:
    """The patient's invitation when they are in the room now; None for a host. Anyone
    else is refused."""
    if user.role != Role.PATIENT:
        if not selectors.is_host(GroupSession.objects.get(pk=session.pk), user):  # as it is now
            raise _refused(_("Only the host and co-hosts can do this."), 403)
        return None
    invitation = session.invitees.select_related("patient").filter(patient__user=user).first()
    inside = GroupAttendance.objects.filter(session=session, user=user, left_at__isnull=True)
    if invitation is None or invitation.removed_at is not None or not inside.exists():
        raise _refused(_("Wait until the host lets you in."), 403)
    return invitation


# --- Raised hands ------------------------------------------------------------------------------


def group_hand(*, session: GroupSession, user: User, raised: bool) -> GroupAttendance:
    """Someone in the room raises or lowers their hand. Raising again keeps their place."""
    with transaction.atomic():
        stretch = (
            GroupAttendance.objects.select_for_update()
            .filter(session=session, user=user, left_at__isnull=True)
            .first()
        )
        if stretch is None:
            raise _refused(_("Join the room first."), 403)
        if raised and stretch.hand_raised_at is None:
            stretch.hand_raised_at = timezone.now()
        elif not raised:
            stretch.hand_raised_at = None
        stretch.save(update_fields=["hand_raised_at"])
        _to_person(session.pk, user.pk, {"type": "hand", "raised": raised, "by_host": False})
        _hosts_refresh(session.pk)
    return stretch


def group_hand_lower(*, session: GroupSession, by: User, attendance_id: int) -> None:
    """A host lowers someone's hand (done, or answered)."""
    if not selectors.is_host(GroupSession.objects.get(pk=session.pk), by):  # as it is now
        raise _refused(_("Only the host and co-hosts can do this."), 403)
    with transaction.atomic():
        stretch = (
            GroupAttendance.objects.select_for_update()
            .filter(session=session, pk=attendance_id, left_at__isnull=True)
            .first()
        )
        if stretch is None:
            raise _refused(_("That person is not in the room."), 404)
        if stretch.hand_raised_at is None:
            return
        stretch.hand_raised_at = None
        stretch.save(update_fields=["hand_raised_at"])
        _to_person(session.pk, stretch.user_id, {"type": "hand", "raised": False, "by_host": True})
        _hosts_refresh(session.pk)


# --- What a host did, told to the person --------------------------------------------------------


def tell_muted(*, session: GroupSession, attendance: GroupAttendance, muted: bool) -> None:
    _to_person(session.pk, attendance.user_id, {"type": "muted", "muted": muted})


def tell_removed(*, session: GroupSession, attendance: GroupAttendance) -> None:
    """Their sockets close (a removed patient is refused from then on); hosts' lists drop
    them."""
    _to_person(session.pk, attendance.user_id, {"type": "removed"})
    _hosts_refresh(session.pk)


def tell_left(*, session: GroupSession, stretch: GroupAttendance) -> None:
    _to_person(session.pk, stretch.user_id, {"type": "left"})
    _hosts_refresh(session.pk)


def tell_cancelled(*, session: GroupSession) -> None:
    """Every socket of the room closes: there is no session any more."""
    broadcast_on_commit(
        room_group(session.pk), {"type": "group.event", "event": {"type": "cancelled"}}
    )
