"""Live updates: the one helper that pushes events, and the base every consumer builds on."""

import asyncio
import threading
import time
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.auth import UserLazyObject
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.crypto import salted_hmac
from django_otp import user_has_device

from telehealth import json_input
from telehealth.accounts.models import User
from telehealth.accounts.policy import (
    LAST_SEEN_KEY,
    needs_mfa_enrolment,
    session_deadline,
    session_expiry_reason,
    session_is_verified,
)

# WebSocket close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SESSION_ENDED = 4440

# A deadline timer wakes this long after the deadline: the expiry checks compare with ">".
DEADLINE_SLACK = 0.05


def broadcast_on_commit(group: str, event: dict) -> None:
    """Send `event` to a channel-layer group once the current transaction commits, so nothing
    is pushed for a change that rolls back."""
    layer = get_channel_layer()
    if layer is None:  # settings always define one (in memory without REDIS_URL)
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer.")
    transaction.on_commit(lambda: _group_send_now(layer, group, event))


def _group_send_now(layer: BaseChannelLayer, group: str, event: dict) -> None:
    send = async_to_sync(layer.group_send)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        send(group, event)
        return
    # This thread runs an event loop already (a test driving a browser writes its data from
    # one), so it cannot block on another: send from a short-lived thread and wait for it.
    sender = threading.Thread(target=send, args=(group, event))
    sender.start()
    sender.join()


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    """Every socket of one session. Named by a keyed hash: group names are readable in Redis,
    and a raw session key would sign anyone in who reads it."""
    digest = salted_hmac("telehealth.realtime.session", session_key, algorithm="sha256")
    return f"session.{digest.hexdigest()}"


def session_checks_group(user_id: int) -> str:
    """Every socket of one user, whatever the session: told to re-validate when the account
    or its access changes."""
    return f"session-check.{user_id}"


def end_session_sockets(session_key: str) -> None:
    """Close every socket of a session that is ending (sign-out)."""
    broadcast_on_commit(session_group(session_key), {"type": "session.end"})


def check_user_sockets(user_id: int) -> None:
    """Every socket of the user re-validates its session and access; those no longer valid
    close."""
    broadcast_on_commit(session_checks_group(user_id), {"type": "session.check"})


def lazy_user(user: User) -> UserLazyObject:
    """`user` as the auth middleware puts it in a scope."""
    lazy = UserLazyObject()
    lazy._wrapped = user
    return lazy


class AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts only signed-in users whose session is live and (for staff) MFA-verified, and
    closes the socket when the session ends. Subclasses override `groups_for` and
    `allowed`; a malformed frame gets an error frame, never a crash.

    The server ends a socket itself, with CLOSE_SESSION_ENDED: on sign-out (`session.end` to
    the session's group), when the account or its access changes and a re-check fails
    (`session.check` to the user's group), and at the session's idle or absolute expiry or the
    end of a grant the access rests on (`access_deadline`). No frame goes out after that."""

    ended = False
    session_deadline: float | None = None
    access_deadline: float | None = None
    watcher: asyncio.Task | None = None

    user: User  # the signed-in user, once `authorize` accepted them; re-read by `session_ok`
    access_groups: list[str]  # the groups `groups_for` gave at connect

    async def connect(self):
        # Joined before the session is checked, so a sign-out during the check still lands.
        self.joined = self.session_groups()
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        refusal = await self.authorize()
        if refusal:
            await self.close(code=refusal)
            return
        groups = await self.groups_for(self.scope.get("user"))
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined += groups
        self.access_groups = groups
        await self.accept()
        self.watcher = asyncio.create_task(self.close_at_deadline())
        await self.on_connected()

    def session_groups(self) -> list[str]:
        user = self.scope.get("user")
        session = self.scope.get("session")
        if user is None or not user.is_authenticated or session is None:
            return []
        if not session.session_key:
            return []
        return [session_group(session.session_key), session_checks_group(user.pk)]

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
        """Checked before each frame: the session may have ended since the socket opened, or
        the user's role or practice changed (before the re-check that change sends arrives)."""
        before = self.user
        if not await self.session_ok(before):
            return False
        after = self.user
        if (after.role, after.practice_id) == (before.role, before.practice_id):
            return True
        return await self.revalidate()

    async def on_connected(self) -> None:
        pass

    async def revalidate(self) -> bool:
        """Whether the socket may stay open, asked again without counting as activity, with
        the user as stored now. Subclasses also re-check access to their object."""
        if not await self.session_ok(self.user, touch=False):
            return False
        return await self.access_unchanged(self.user)

    async def access_unchanged(self, user: User) -> bool:
        """Whether `user` (freshly read) still passes `allowed` and would join the same groups:
        a socket never moves groups, it closes and the client reconnects."""
        if not await self.allowed(user):
            return False
        return sorted(await self.groups_for(user)) == sorted(self.access_groups)

    def deadline(self) -> float | None:
        deadlines = [d for d in (self.session_deadline, self.access_deadline) if d is not None]
        return min(deadlines, default=None)

    async def signed_in(self) -> bool:
        """The gate on every frame out: False once the session ended; past a deadline, the
        store is asked again (activity elsewhere may have moved the idle clock)."""
        if self.ended:
            return False
        deadline = self.deadline()
        if deadline is not None and time.time() >= deadline and not await self.revalidate():
            await self.end_session()
            return False
        return True

    async def close_at_deadline(self) -> None:
        while not self.ended and (deadline := self.deadline()) is not None:
            await asyncio.sleep(max(deadline - time.time(), 0) + DEADLINE_SLACK)
            await self.signed_in()

    async def end_session(self) -> None:
        if self.ended:
            return
        self.ended = True
        await self.close(code=CLOSE_SESSION_ENDED)

    async def send(  # type: ignore[override]  # as AsyncWebsocketConsumer.send itself
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        if await self.signed_in():
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    async def send_json(self, content: object, close: bool = False) -> None:
        # Gated apart from `send`: the JSON consumer's send_json skips a subclass's `send`.
        if await self.signed_in():
            await super().send_json(content, close=close)

    async def session_end(self, event: dict) -> None:
        if self.watcher is not None:
            await self.end_session()

    async def session_check(self, event: dict) -> None:
        if self.watcher is None or self.ended:
            return  # refused, or already closed
        if not await self.revalidate():
            await self.end_session()
            return
        self.watcher.cancel()  # the deadlines may have moved
        self.watcher = asyncio.create_task(self.close_at_deadline())

    async def disconnect(self, code):
        if self.watcher is not None:
            self.watcher.cancel()
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    @database_sync_to_async
    def session_ok(self, user: AbstractBaseUser, *, touch: bool = True) -> bool:
        """Re-read the session from its store: it may have ended (timeout, sign-out, a
        password or MFA change elsewhere) since the socket opened. On success the user read
        afresh replaces `self.user` and `scope["user"]`, so every later access check sees
        their role and practice as they are now."""
        scoped = self.scope.get("session")
        if scoped is None or not scoped.session_key:
            return False
        session = import_module(settings.SESSION_ENGINE).SessionStore(
            session_key=scoped.session_key
        )
        fresh = User.objects.filter(pk=user.pk, is_active=True).first()
        if fresh is None or session.get(SESSION_KEY) != str(fresh.pk):
            return False
        if session.get(HASH_SESSION_KEY) != fresh.get_session_auth_hash():
            return False
        if session_expiry_reason(session, fresh, now=time.time()):
            return False
        if needs_mfa_enrolment(fresh):
            return False
        if user_has_device(fresh, confirmed=True) and not session_is_verified(session, fresh):
            return False
        # A live socket is activity: keep the idle timer fresh, at most one write a minute.
        now = int(time.time())
        if touch and now - session.get(LAST_SEEN_KEY, 0) > 60:
            session[LAST_SEEN_KEY] = now
            session.save()
        self.session_deadline = session_deadline(session, fresh)
        self.user = fresh
        self.scope["user"] = lazy_user(fresh)
        return True

    async def receive_json(self, content, **kwargs):
        if not await self.still_allowed():
            await self.end_session()
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
