"""Signalling for video visits over Channels.

`/ws/visits/<id>/` is the room: only admitted participants connect; frames are validated and
relayed only within the visit's group (directed frames reach only their `to` peer).
`/ws/visits/<id>/waiting/` is the waiting room: the patient hears when they are admitted, the
provider's status, messages from staff, and when their clinician may not see them where they
said they are (`location-refused`, `location-needed`)."""

import uuid
from importlib import import_module
from typing import cast

from channels.db import database_sync_to_async
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from telehealth.accounts.models import User
from telehealth.accounts.selectors import break_glass_expiry
from telehealth.realtime import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, AuthenticatedConsumer
from visits import selectors, services
from visits.ice import ice_servers
from visits.models import MAX_PARTICIPANTS, GroupSession, Participant, Presence, Visit

CLOSE_FULL = 4409
CLOSE_MOVED = 4410  # the visit goes on in a group room: the page follows the "moved" frame
MAX_SDP = 20_000
MAX_CANDIDATE = 2_000
RELAYED = {"offer", "answer", "ice-candidate"}
BROADCAST = {"mute-state", "screen-share", "connection-quality"}
CLINICIAN_ONLY = {"admit", "end", "waiting-message"}


class VisitAccessMixin(AuthenticatedConsumer):
    """Finds who is connecting: a signed-in user who is a participant (staff also need a
    live, MFA-verified session), or a patient holding a join-link grant in their session.
    A signed-in connection lasts as long as its sign-in, whatever grant its session holds."""

    visit: Visit
    participant: Participant

    @database_sync_to_async
    def load_participant(self) -> tuple[Visit | None, Participant | None]:
        visit_id = int(self.scope["url_route"]["kwargs"]["visit_id"])
        user = self.scope.get("user")
        if not isinstance(user, User):  # None or AnonymousUser: only a session grant admits
            user = None
        session = self.scope.get("session")
        visit = Visit.objects.filter(pk=visit_id).select_related("practice", "patient").first()
        if visit is None:
            return None, None
        if (
            user is not None  # signed in
            and user.role != "patient"
            and not selectors.visits_visible_to(user).filter(pk=visit_id).exists()
        ):
            return visit, None
        if user is not None and user.role != "patient":
            expiry = break_glass_expiry(user=user, patient=visit.patient)
            self.access_deadline = expiry.timestamp() if expiry else None
        return visit, selectors.participant_for(visit=visit, user=user, session=session)

    async def authorize_participant(self, *, must_be_admitted: bool) -> int | None:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and not await self.session_ok(user):
            return CLOSE_FORBIDDEN
        visit, participant = await self.load_participant()
        if visit is None or participant is None:
            anonymous = user is None or not user.is_authenticated
            session = self.scope.get("session")
            has_grant = session is not None and bool(
                session.get(selectors.GRANTS_KEY) or session.get(selectors.GUEST_KEY)
            )
            return CLOSE_UNAUTHENTICATED if anonymous and not has_grant else CLOSE_FORBIDDEN
        if visit.state == Visit.State.ENDED:
            return CLOSE_FORBIDDEN
        if must_be_admitted and participant.admitted_at is None:
            return CLOSE_FORBIDDEN
        if participant.role == Participant.Role.CLINICIAN and await self.join_refused(
            visit, participant
        ):
            return CLOSE_FORBIDDEN
        self.visit, self.participant = visit, participant
        return None

    @database_sync_to_async
    def join_refused(self, visit: Visit, participant: Participant) -> bool:
        """A clinician who entered before the patient was admitted, and is not licensed where
        the patient is, does not connect to the started visit (the room page refuses them)."""
        if participant.user is None:
            return False
        return selectors.join_refused_at(visit=visit, clinician=participant.user) is not None

    async def still_allowed(self) -> bool:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return await super().still_allowed()
        return await self.grant_still_valid()

    async def revalidate(self) -> bool:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.grant_still_valid()
        if not await self.session_ok(user, touch=False):
            return False
        _visit, participant = await self.load_participant()
        if participant is None or participant.pk != self.participant.pk:
            return False
        return await self.access_unchanged(self.user)

    @database_sync_to_async
    def grant_still_valid(self) -> bool:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return True
        scoped = self.scope.get("session")
        if scoped is None or not scoped.session_key:
            return False
        # Re-read from the store: a grant ends with the session.
        session = import_module(settings.SESSION_ENGINE).SessionStore(
            session_key=scoped.session_key
        )
        if self.participant.role == Participant.Role.GUEST:
            guest = session.get(selectors.GUEST_KEY, {}).get(str(self.visit.pk))
            return guest == self.participant.pk
        grant = session.get(selectors.GRANTS_KEY, {}).get(str(self.visit.pk))
        return grant == self.visit.patient_id


class VisitConsumer(VisitAccessMixin, AuthenticatedConsumer):
    async def authorize(self) -> int | None:
        refusal = await self.authorize_participant(must_be_admitted=True)
        if refusal:
            return refusal
        self.peer_id = f"{self.participant.pk}-{uuid.uuid4().hex[:8]}"
        return None

    async def groups_for(self, user) -> list[str]:
        return [services.room_group(self.visit.pk)]

    async def on_connected(self) -> None:
        moved_url = await self.moved_url()
        if moved_url:  # a page opened before the move, or reconnecting after it
            if self.participant.role == Participant.Role.GUEST:
                await self.send_error(
                    "moved", "This visit moved to a group room, which guests cannot join yet."
                )
            else:
                await self.send_json({"type": "moved", "url": moved_url})
            await self.close(code=CLOSE_MOVED)
            return
        others = await self.connected_others()
        if len(others) >= MAX_PARTICIPANTS:
            await self.send_error(
                "visit_full", "This visit already has four people in it, the most a visit can hold."
            )
            await self.close(code=CLOSE_FULL)
            return
        self.presence_id = await self.open_presence()
        await self.send_json(
            {
                "type": "welcome",
                "peer": self.peer_id,
                "name": self.participant.display_name,
                "role": self.participant.role,
                "ice_servers": ice_servers(user_id=str(self.participant.pk)),
                "ice_transport_policy": settings.ICE_TRANSPORT_POLICY,
                "audio_only": self.visit.audio_only,
                "started_at": self.visit.started_at.isoformat() if self.visit.started_at else None,
            }
        )
        await self.to_room(
            {
                "type": "peer-joined",
                "peer": self.peer_id,
                "name": self.participant.display_name,
                "role": self.participant.role,
            }
        )

    async def disconnect(self, code):
        if getattr(self, "presence_id", None):
            await database_sync_to_async(services.presence_close)(presence_id=self.presence_id)
            await self.to_room({"type": "peer-left", "peer": self.peer_id})
        await super().disconnect(code)

    @database_sync_to_async
    def moved_url(self) -> str:
        session = GroupSession.objects.filter(visit_id=self.visit.pk).first()
        return reverse("visits:group-room", args=[session.pk]) if session else ""

    @database_sync_to_async
    def connected_others(self) -> set[int]:
        return set(
            Presence.objects.filter(participant__visit=self.visit, left_at__isnull=True)
            .exclude(participant=self.participant)
            .values_list("participant_id", flat=True)
        )

    @database_sync_to_async
    def open_presence(self) -> int:
        return services.presence_open(participant=self.participant).pk

    async def to_room(self, frame: dict) -> None:
        await self.channel_layer.group_send(
            services.room_group(self.visit.pk),
            {"type": "visit.relay", "frame": {**frame, "from": self.peer_id}},
        )

    async def handle(self, content: dict) -> None:
        kind = content["type"]
        if kind in CLINICIAN_ONLY and self.participant.role != Participant.Role.CLINICIAN:
            await self.send_error("forbidden", "Only the clinician can do that.")
            return
        if kind in RELAYED:
            await self.relay(content)
        elif kind in BROADCAST:
            flags = self.flags(content)
            if kind == "mute-state" and flags.get("video"):
                await self.note_patient_video()
            await self.to_room({"type": kind, **flags})
        elif kind == "chat":
            await self.chat(content)
        elif kind == "join":
            await self.to_room(
                {
                    "type": "peer-joined",
                    "peer": self.peer_id,
                    "name": self.participant.display_name,
                    "role": self.participant.role,
                }
            )
        elif kind == "admit":
            await self.admit()
        elif kind == "waiting-message":
            await self.waiting_message(content)
        elif kind == "end":
            clinician = cast(User, self.scope["user"])
            await database_sync_to_async(services.end)(visit=self.visit, by=clinician)
        elif kind == "leave":
            await self.close()
        else:
            await super().handle(content)

    async def admit(self) -> None:
        # CLINICIAN_ONLY frames come from a signed-in clinician's participant.
        clinician = cast(User, self.scope["user"])
        try:
            await database_sync_to_async(services.admit)(visit=self.visit, by=clinician)
        except services.AdmissionRefused as refusal:
            await self.send_json(
                {
                    "type": "error",
                    "code": refusal.code,
                    "message": refusal.message,
                    "state": refusal.state,
                }
            )
            return
        except services.VisitError as error:
            await self.send_error(error.code, error.message)
            return
        await self.send_json({"type": "admitted"})

    @staticmethod
    def flags(content: dict) -> dict:
        keys = ("audio", "video", "active", "audio_only")
        return {k: bool(content.get(k)) for k in keys if k in content}

    async def note_patient_video(self) -> None:
        """Once per socket: the patient sent video, so this is not an audio-only visit."""
        if self.participant.role != Participant.Role.PATIENT or getattr(self, "video_noted", False):
            return
        self.video_noted = True
        await database_sync_to_async(services.patient_video_seen)(visit=self.visit)

    async def relay(self, content: dict) -> None:
        to = content.get("to")
        if not isinstance(to, str) or not to or len(to) > 40:
            await self.send_error("bad_frame", "Say which peer the frame is for ('to').")
            return
        if content["type"] == "ice-candidate":
            candidate = content.get("candidate")
            if not isinstance(candidate, dict) or len(str(candidate)) > MAX_CANDIDATE:
                await self.send_error("bad_frame", "An ice-candidate needs a 'candidate'.")
                return
            payload: dict[str, object] = {"candidate": candidate}
        else:
            sdp = content.get("sdp")
            if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP:
                await self.send_error("bad_frame", "An offer or answer needs a valid 'sdp'.")
                return
            payload = {"sdp": sdp}
            if content["type"] == "offer":  # the answering side learns who is calling
                payload["name"] = self.participant.display_name
        await self.to_room({"type": content["type"], "to": to, **payload})

    async def chat(self, content: dict) -> None:
        body = content.get("body")
        if not isinstance(body, str):
            await self.send_error("bad_frame", "A chat frame needs a 'body'.")
            return
        try:
            message = await database_sync_to_async(services.chat_post)(
                visit=self.visit, participant=self.participant, body=body
            )
        except services.VisitError as error:
            await self.send_error("bad_chat", error.message)
            return
        await self.to_room(
            {
                "type": "chat",
                "id": message.pk,
                "body": message.body,
                "name": self.participant.display_name,
                "at": timezone.localtime(message.sent_at).isoformat(),
            }
        )

    async def waiting_message(self, content: dict) -> None:
        text = content.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            await self.send_error("bad_frame", "A message needs 'text' (up to 500 characters).")
            return
        await self.channel_layer.group_send(
            services.waiting_group(self.visit.pk),
            {"type": "visit.event", "event": {"type": "message", "text": text.strip()}},
        )

    async def visit_relay(self, event: dict) -> None:
        frame = event["frame"]
        if frame.get("from") == self.peer_id and frame["type"] != "chat":
            return  # peers do not hear their own signalling; chat comes back as confirmation
        if "to" in frame and frame["to"] != self.peer_id:
            return
        await self.send_json(frame)

    async def visit_event(self, event: dict) -> None:
        if event.get("to_role", self.participant.role) != self.participant.role:
            return  # e.g. the patient's location is for the clinicians, not guests
        frame = event["event"]
        if frame.get("type") == "moved" and self.participant.role == Participant.Role.GUEST:
            frame = {
                "type": "error",
                "code": "moved",
                "message": "This visit moved to a group room, which guests cannot join yet.",
            }
        await self.send_json(frame)
        if frame.get("type") in ("ended", "moved") or frame.get("code") == "moved":
            await self.close()


class WaitingRoomConsumer(VisitAccessMixin, AuthenticatedConsumer):
    async def authorize(self) -> int | None:
        refusal = await self.authorize_participant(must_be_admitted=False)
        if refusal:
            return refusal
        if self.participant.role != Participant.Role.PATIENT:
            return CLOSE_FORBIDDEN
        return None

    async def groups_for(self, user) -> list[str]:
        return [services.waiting_group(self.visit.pk)]

    async def on_connected(self) -> None:
        await self.send_json(
            {
                "type": "status",
                "admitted": self.participant.admitted_at is not None,
                "provider_status": self.visit.provider_status,
            }
        )

    async def handle(self, content: dict) -> None:
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().handle(content)

    async def visit_event(self, event: dict) -> None:
        await self.send_json(event["event"])
