"""Live updates: the one helper that pushes events, and the base every consumer builds on."""

import time
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django_otp import user_has_device

from telehealth import json_input
from telehealth.accounts.models import User
from telehealth.accounts.policy import (
    LAST_SEEN_KEY,
    needs_mfa_enrolment,
    session_expiry_reason,
    session_is_verified,
)

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SESSION_ENDED = 4440


def broadcast_on_commit(group: str, event: dict) -> None:
    """Send `event` to a channel-layer group once the current transaction commits, so nothing
    is pushed for a change that rolls back."""
    layer = get_channel_layer()
    if layer is None:  # settings always define one (in memory without REDIS_URL)
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer.")
    transaction.on_commit(lambda: async_to_sync(layer.group_send)(group, event))


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts only signed-in users whose session is live and (for staff) MFA-verified, and
    closes the socket when the session ends. Subclasses override `groups_for` and
    `allowed`; a malformed frame gets an error frame, never a crash."""

    user: User  # the signed-in user, once `authorize` accepted them

    async def connect(self):
        refusal = await self.authorize()
        if refusal:
            await self.close(code=refusal)
            return
        self.joined = await self.groups_for(self.scope.get("user"))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.on_connected()

    async def authorize(self) -> int | None:
        """None to accept, or the close code to refuse with."""
        user = self.scope.get("user")
        if not isinstance(user, User) or not user.is_authenticated:  # None or AnonymousUser
            return CLOSE_UNAUTHENTICATED
        if not await self.session_ok(user) or not await self.allowed(user):
            return CLOSE_FORBIDDEN
        self.user = user
        return None

    async def still_allowed(self) -> bool:
        """Checked before each frame: the session may have ended since the socket opened."""
        return await self.session_ok(self.scope["user"])

    async def on_connected(self) -> None:
        pass

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @database_sync_to_async
    def session_ok(self, user) -> bool:
        """Re-read the session from its store: it may have ended (timeout, sign-out, a
        password or MFA change elsewhere) since the socket opened."""
        scoped = self.scope.get("session")
        if scoped is None or not scoped.session_key:
            return False
        session = import_module(settings.SESSION_ENGINE).SessionStore(
            session_key=scoped.session_key
        )
        user = User.objects.filter(pk=user.pk, is_active=True).first()
        if user is None or session.get(SESSION_KEY) != str(user.pk):
            return False
        if session.get(HASH_SESSION_KEY) != user.get_session_auth_hash():
            return False
        if session_expiry_reason(session, user, now=time.time()):
            return False
        if needs_mfa_enrolment(user):
            return False
        if user_has_device(user, confirmed=True) and not session_is_verified(session, user):
            return False
        # A live socket is activity: keep the idle timer fresh, at most one write a minute.
        now = int(time.time())
        if now - session.get(LAST_SEEN_KEY, 0) > 60:
            session[LAST_SEEN_KEY] = now
            session.save()
        return True

    async def receive_json(self, content, **kwargs):
        if not await self.still_allowed():
            await self.send_json(
                {
                    "type": "error",
                    "code": "session_ended",
                    "message": "Your session has ended. Sign in again.",
                }
            )
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("bad_frame", "Each frame is a JSON object with a 'type'.")
            return
        await self.handle(content)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.send_error("bad_frame", "Send text frames of JSON.")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self.send_error("bad_json", "That frame is not valid JSON.")
            return
        await self.receive_json(content, **kwargs)

    @classmethod
    async def decode_json(cls, text_data: str) -> object:
        # A JSONInputError is a ValueError: `receive` answers it with an error frame.
        return json_input.loads(text_data)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def allowed(self, user) -> bool:
        return True

    async def groups_for(self, user) -> list[str]:
        return []

    async def handle(self, content: dict) -> None:
        await self.send_error("unknown_type", f"Unknown frame type: {content['type'][:40]}")


class UserEventsConsumer(AuthenticatedConsumer):
    """`/ws/me/`: a signed-in user's own live events (alerts, inbox counts, schedule changes)."""

    async def groups_for(self, user) -> list[str]:
        return [user_group(user.pk)]

    async def handle(self, content: dict) -> None:
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().handle(content)

    async def user_event(self, event: dict) -> None:
        await self.send_json(event["payload"])
