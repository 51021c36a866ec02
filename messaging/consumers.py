"""Live messaging over Channels.

`/ws/messaging/threads/<id>/`: the thread's patient and the staff who may see it. Frames in:
message, typing, read, sync. A client that reconnects sends `sync` with the last sequence
number it holds and gets every message after it, in order, then `synced`; live messages carry
their `seq`, so a client drops anything it already has (no gaps, no duplicates).
Internal notes travel only in the thread's staff group, which a patient's socket never joins.

`/ws/messaging/inbox/`: staff of the practice hear that a thread changed (ids only, no text)."""

from channels.db import database_sync_to_async

from messaging import selectors, services
from messaging.models import Message, Thread
from telehealth.accounts.models import Role, User
from telehealth.accounts.selectors import break_glass_expiry
from telehealth.realtime import CLOSE_FORBIDDEN, AuthenticatedConsumer

SYNC_LIMIT = 500  # messages per sync reply; the client asks again from the last one it got
REFUSALS = {403: "forbidden", 429: "rate_limited"}  # error frame codes of a refused post


class ThreadConsumer(AuthenticatedConsumer):
    async def authorize(self) -> int | None:
        refusal = await super().authorize()
        if refusal:
            return refusal
        thread = await self.load_thread()
        if thread is None:
            return CLOSE_FORBIDDEN
        self.thread = thread
        self.is_staff = self.user.role != Role.PATIENT
        return None

    async def revalidate(self) -> bool:
        return await super().revalidate() and await self.load_thread() is not None

    @database_sync_to_async
    def load_thread(self) -> Thread | None:
        """The thread, if this user may see it; an emergency grant it rests on sets the socket's
        access deadline."""
        thread_id = int(self.scope["url_route"]["kwargs"]["thread_id"])
        thread = (
            selectors.threads_visible_to(self.user)
            .select_related("patient__practice")
            .filter(pk=thread_id)
            .first()
        )
        if thread is not None:
            expiry = break_glass_expiry(user=self.user, patient=thread.patient)
            self.access_deadline = expiry.timestamp() if expiry else None
        return thread

    async def groups_for(self, user: User) -> list[str]:
        groups = [services.thread_group(self.thread.pk)]
        if user.role != Role.PATIENT:
            groups.append(services.staff_group(self.thread.pk))
        return groups

    async def on_connected(self) -> None:
        await self.send_json(await self.hello())

    @database_sync_to_async
    def hello(self) -> dict:
        thread = Thread.objects.get(pk=self.thread.pk)
        return {
            "type": "hello",
            "thread": thread.pk,
            # A patient's client syncs up to this: for them, the newest message they may see.
            "last_seq": thread.last_seq if self.is_staff else thread.last_public_seq,
            "other_read": selectors.others_read_seq(thread=thread, user=self.user),
        }

    async def handle(self, content: dict) -> None:
        kind = content["type"]
        if kind == "message":
            await self.post(content)
        elif kind == "typing":
            await self.typing(content)
        elif kind == "read":
            await self.read(content)
        elif kind == "sync":
            await self.sync(content)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await super().handle(content)

    async def post(self, content: dict) -> None:
        body = content.get("body")
        internal = content.get("internal", False)
        client_id = str(content.get("client_id", ""))[:64]
        if not isinstance(body, str) or not isinstance(internal, bool):
            await self.send_error("bad_frame", "A message needs a text 'body'.")
            return
        try:
            message = await database_sync_to_async(services.message_post)(
                thread=self.thread, by=self.user, body=body, internal=internal
            )
        except services.MessagingError as error:
            await self.send_error(REFUSALS.get(error.status_code, "bad_message"), error.message)
            return
        await self.send_json(
            {"type": "sent", "client_id": client_id, "seq": message.seq, "id": message.pk}
        )
        if message.thread.urgent and message.author_kind == Message.Author.PATIENT:
            await self.send_json({"type": "emergency"})

    async def typing(self, content: dict) -> None:
        internal = bool(content.get("internal")) and self.is_staff
        group = (
            services.staff_group(self.thread.pk)
            if internal
            else services.thread_group(self.thread.pk)
        )
        await self.channel_layer.group_send(
            group,
            {
                "type": "thread.event",
                "event": {
                    "type": "typing",
                    "side": "staff" if self.is_staff else "patient",
                    "name": self.user.full_name if self.is_staff else "",
                    "user": self.user.pk,
                    "thread": self.thread.pk,
                },
            },
        )

    async def read(self, content: dict) -> None:
        seq = content.get("seq")
        if not isinstance(seq, int) or seq < 0:
            await self.send_error("bad_frame", "A read frame needs the 'seq' read up to.")
            return
        await database_sync_to_async(self.read_now)(seq)

    def read_now(self, seq: int) -> None:
        thread = Thread.objects.get(pk=self.thread.pk)
        services.mark_read(thread=thread, user=self.user, seq=seq)

    async def sync(self, content: dict) -> None:
        after = content.get("after", 0)
        if not isinstance(after, int) or after < 0:
            await self.send_error("bad_frame", "A sync frame needs 'after', a sequence number.")
            return
        frames, last = await database_sync_to_async(self.missed)(after)
        for frame in frames:
            await self.send_json({**frame, "replay": True})
        await self.send_json(
            {"type": "synced", "last_seq": last, "more": len(frames) == SYNC_LIMIT}
        )

    def missed(self, after: int) -> tuple[list[dict], int]:
        messages = list(
            selectors.messages_for(user=self.user, thread=self.thread, after=after)[:SYNC_LIMIT]
        )
        last = messages[-1].seq if messages else after
        return [services.message_event(m) for m in messages], last

    async def thread_event(self, event: dict) -> None:
        frame = event["event"]
        if frame.get("internal") and not self.is_staff:
            return  # never reached: internal notes go to the staff group only
        if frame.get("type") in ("typing", "read") and frame.get("user") == self.user.pk:
            return  # one's own typing and reading
        await self.send_json(frame)


class InboxConsumer(AuthenticatedConsumer):
    async def allowed(self, user: User) -> bool:
        return user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN, Role.CLINICIAN) and bool(
            user.practice_id
        )

    async def groups_for(self, user: User) -> list[str]:
        return [services.inbox_group(user.practice_id)] if user.practice_id else []

    async def handle(self, content: dict) -> None:
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await super().handle(content)

    async def inbox_event(self, event: dict) -> None:
        await self.send_json(event["event"])
