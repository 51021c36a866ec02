"""`/ws/groups/<id>/`: the live events of a group session's room (visits/group_live.py).

Open to the people of the room only: invited patients not removed, the host and co-hosts
(group_selectors.group_rooms_of), signed in with a live session (AuthenticatedConsumer), and
never for a cancelled or finished session. A patient's socket opened before admission puts
them in the waiting room until it closes; it hears chat only once they are admitted.

Frames in: `chat` {body}, `hand` {raised}, and for hosts `admit` {invitation}, `admit-all`,
`lower-hand` {attendance}; `ping`. Frames out: `welcome`, `waiting` and `hands` (hosts),
`chat`, `admitted`, `hand`, `muted`, `removed`, `cancelled`, `error`."""

from channels.db import database_sync_to_async
from django.utils import timezone
from django.utils.translation import ngettext

from telehealth.accounts.models import Role, User
from telehealth.audit import services as audit
from telehealth.realtime import CLOSE_FORBIDDEN, AuthenticatedConsumer
from visits import group_live, group_services
from visits import group_selectors as selectors
from visits.models import GroupAttendance, GroupParticipant, GroupSession

HOST_ONLY = {"admit", "admit-all", "lower-hand"}


class GroupRoomConsumer(AuthenticatedConsumer):
    session: GroupSession
    invitation: GroupParticipant | None  # the patient's; None for hosts
    is_host: bool
    inside: bool  # in the room (admitted, or a host): hears the chat

    async def allowed(self, user) -> bool:
        return await self.load(user)

    @database_sync_to_async
    def load(self, user: User) -> bool:
        """Whether `user` may have the room's socket now; on yes, what the socket needs."""
        if user.role not in (Role.PATIENT, Role.CLINICIAN):
            return False
        session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        session = selectors.group_rooms_of(user).filter(pk=session_id).first()
        if session is None or session.state != GroupSession.State.SCHEDULED:
            return False
        if session.ends_at <= timezone.now():
            return False
        invitation = None
        if user.role == Role.PATIENT:
            invitation = session.invitees.select_related("patient").get(patient__user=user)
            if invitation.removed_at is not None:
                return False
        self.session, self.invitation = session, invitation
        self.is_host = invitation is None and selectors.is_host(session, user)
        if invitation is None and not self.is_host:
            return False
        self.inside = self.is_host or (
            GroupAttendance.objects.filter(
                session=session, user=user, left_at__isnull=True
            ).exists()
        )
        return True

    async def groups_for(self, user) -> list[str]:
        groups = [
            group_live.room_group(self.session.pk),
            group_live.person_group(self.session.pk, user.pk),
        ]
        if self.is_host:
            groups.append(group_live.hosts_group(self.session.pk))
        return groups

    async def on_connected(self) -> None:
        if self.invitation is not None and not self.inside:
            await database_sync_to_async(group_live.waiting_arrive)(
                session=self.session, invitation=self.invitation, channel=self.channel_name
            )
        await self.send_json(await self.welcome())

    @database_sync_to_async
    def welcome(self) -> dict:
        frame: dict = {
            "type": "welcome",
            "host": self.is_host,
            "inside": self.inside,
            "name": selectors.display_name(self.invitation, self.user),
            "chat": self.history() if self.inside else [],
        }
        if self.is_host:
            frame |= self.host_lists()
        return frame

    def history(self) -> list[dict]:
        names = selectors.names_by_patient(self.session)
        return [
            group_live.chat_frame(m, names.get(m.patient_id or 0))
            for m in selectors.recent_chat(self.session)
        ]

    def host_lists(self) -> dict:
        """Who waits and whose hand is up, with the names the room shows; the read is
        audited once per list sent, naming each patient in it."""
        waiting = selectors.waiting_invitations(self.session)
        hands = selectors.raised_hands(self.session)
        names = selectors.names_by_patient(self.session)
        patients = [w.patient for w in waiting] + [h.patient for h in hands if h.patient]
        if patients:
            audit.record_many(
                action="view",
                actor=self.user,
                objects=[(self.session, p) for p in patients],
                detail="group room waiting list and raised hands",
            )
        return {
            "waiting": [
                {"invitation": w.pk, "name": selectors.display_name(w, w.patient.user)}
                for w in waiting
                if w.patient.user is not None
            ],
            "hands": [
                {
                    "attendance": h.pk,
                    "name": selectors.display_name(names.get(h.patient_id or 0), h.user),
                    "raised_at": h.hand_raised_at.isoformat() if h.hand_raised_at else None,
                }
                for h in hands
            ],
        }

    async def disconnect(self, code):
        if getattr(self, "invitation", None) is not None:
            await database_sync_to_async(group_live.waiting_depart)(
                session_id=self.session.pk, channel=self.channel_name
            )
        await super().disconnect(code)

    # --- Frames in ------------------------------------------------------------------------

    async def handle(self, content: dict) -> None:
        kind = content["type"]
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        if kind in HOST_ONLY and not self.is_host:
            await self.send_error("forbidden", "Only the host and co-hosts can do that.")
            return
        if kind == "chat":
            body = content.get("body")
            if not isinstance(body, str):
                await self.send_error("bad_frame", "A chat frame needs a 'body' (text).")
                return
            await self.act(
                group_live.group_chat_post, session=self.session, user=self.user, body=body
            )
        elif kind == "hand":
            raised = content.get("raised")
            if not isinstance(raised, bool):
                await self.send_error("bad_frame", "A hand frame needs 'raised': true or false.")
                return
            await self.act(
                group_live.group_hand, session=self.session, user=self.user, raised=raised
            )
        elif kind == "lower-hand":
            attendance = self.number(content, "attendance")
            if attendance is None:
                await self.send_error("bad_frame", "Say whose hand to lower ('attendance').")
                return
            await self.act(
                group_live.group_hand_lower,
                session=self.session,
                by=self.user,
                attendance_id=attendance,
            )
        elif kind == "admit":
            invitation = self.number(content, "invitation")
            if invitation is None:
                await self.send_error("bad_frame", "Say whom to admit ('invitation').")
                return
            await self.admit(invitation)
        elif kind == "admit-all":
            await self.admit(None)
        else:
            await super().handle(content)

    @staticmethod
    def number(content: dict, key: str) -> int | None:
        value = content.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            return None
        return value

    async def act(self, service, **kwargs) -> object:
        """Run a service; a refusal becomes an error frame with its message."""
        try:
            return await database_sync_to_async(service)(**kwargs)
        except group_services.GroupRefused as refused:
            await self.send_error("refused", str(refused))
            return None

    async def admit(self, invitation: int | None) -> None:
        admitted = await self.act(
            group_live.group_admit, session=self.session, by=self.user, invitation_id=invitation
        )
        if isinstance(admitted, group_live.Admitted) and admitted.left_waiting:
            await self.send_error(
                "full",
                ngettext(
                    "The room is full: %(n)s person is still waiting.",
                    "The room is full: %(n)s people are still waiting.",
                    admitted.left_waiting,
                )
                % {"n": admitted.left_waiting},
            )

    # --- Events out -----------------------------------------------------------------------

    async def group_event(self, event: dict) -> None:
        frame = event["event"]
        if event.get("room_only") and not self.inside:
            return  # waiting: the room's chat is not theirs yet
        kind = frame.get("type")
        if kind == "admitted":
            self.inside = True
            await self.send_json(frame)
            chat = await database_sync_to_async(self.history)()
            await self.send_json({"type": "chat-history", "chat": chat})
            return
        if kind == "left" and not self.is_host:
            self.inside = False
        await self.send_json(frame)
        if (kind == "removed" and not self.is_host) or kind == "cancelled":
            await self.close(code=CLOSE_FORBIDDEN)

    async def group_refresh(self, event: dict) -> None:
        if self.is_host:
            lists = await database_sync_to_async(self.host_lists)()
            await self.send_json({"type": "people", **lists})
