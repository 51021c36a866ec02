import time
from importlib import import_module

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.test import Client

from telehealth.accounts.policy import AUTHENTICATED_AT_KEY, LAST_SEEN_KEY
from telehealth.asgi import application
from telehealth.realtime import (
    CLOSE_FORBIDDEN,
    CLOSE_SESSION_ENDED,
    CLOSE_UNAUTHENTICATED,
    broadcast_on_commit,
    user_group,
)
from tests.conftest import sign_in
from tests.sockets import Communicator as WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user, *, verified=True, age: int = 0) -> bytes:
    client = sign_in(Client(), user, verified=verified)
    if age:
        session = client.session
        session[LAST_SEEN_KEY] = int(time.time()) - age
        session[AUTHENTICATED_AT_KEY] = int(time.time()) - age
        session.save()
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def communicator(cookie: bytes | None = None, origin: bytes = b"http://localhost"):
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/me/", headers=headers)


async def test_anonymous_socket_is_closed(world):
    ws = communicator()
    connected, code = await ws.connect()
    assert not connected
    assert code == CLOSE_UNAUTHENTICATED


async def test_foreign_origin_is_refused(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.clinician)
    ws = communicator(cookie, origin=b"https://evil.example")
    connected, _ = await ws.connect()
    assert not connected


async def test_staff_socket_needs_a_verified_second_factor(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.clinician, verified=False)
    ws = communicator(cookie)
    connected, code = await ws.connect()
    assert not connected
    assert code == CLOSE_FORBIDDEN


async def test_verified_user_gets_pong_and_error_frames_for_bad_input(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.clinician)
    ws = communicator(cookie)
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.send_to(text_data="{not json")
    assert (await ws.receive_json_from())["code"] == "bad_json"
    await ws.send_to(text_data="[1, 2]")
    assert (await ws.receive_json_from())["code"] == "bad_frame"
    await ws.send_json_to({"type": "launch-missiles"})
    assert (await ws.receive_json_from())["code"] == "unknown_type"
    await ws.send_json_to({"type": "ping"})  # still alive after the bad frames
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


async def test_socket_of_an_expired_session_is_refused(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.patient.user, age=3600)
    ws = communicator(cookie)
    connected, code = await ws.connect()
    assert not connected


async def test_open_socket_is_closed_once_the_session_ends(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.patient.user)
    ws = communicator(cookie)
    connected, _ = await ws.connect()
    assert connected

    @sync_to_async
    def expire():
        key = cookie.decode().split("=", 1)[1]
        session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        session[AUTHENTICATED_AT_KEY] = int(time.time()) - 13 * 3600
        session.save()

    await expire()
    await ws.send_json_to({"type": "ping"})
    closed = await ws.receive_output()  # no pong, no frame: the socket closes
    assert closed == {"type": "websocket.close", "code": CLOSE_SESSION_ENDED}


async def test_broadcast_reaches_the_user_only_after_commit(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(session_cookie)(world.patient.user)
    ws = communicator(cookie)
    assert (await ws.connect())[0]
    group = user_group(world.patient.user.pk)

    @sync_to_async
    def rolled_back():
        try:
            with transaction.atomic():
                broadcast_on_commit(group, {"type": "user.event", "payload": {"n": 1}})
                raise RuntimeError("roll back")
        except RuntimeError:
            pass

    @sync_to_async
    def committed():
        with transaction.atomic():
            broadcast_on_commit(group, {"type": "user.event", "payload": {"n": 2}})

    await rolled_back()
    await committed()
    assert await ws.receive_json_from(timeout=2) == {"n": 2}
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()
    assert get_channel_layer() is not None


async def test_an_idle_consumer_outlives_the_layers_blocking_read(require_redis):
    """A receive with nothing to read blocks in Redis for 5 s; redis-py's default read
    timeout is also 5 s, which used to end idle consumers with "Timeout reading"."""
    import asyncio

    from telehealth.layers import RedisLayer
    from telehealth.settings import channel_layer_hosts

    layer = RedisLayer(hosts=channel_layer_hosts(require_redis))
    channel = await layer.new_channel()
    with pytest.raises(asyncio.TimeoutError):  # only ours: nothing arrived in 6.5 s
        await asyncio.wait_for(layer.receive(channel), timeout=6.5)
    await layer.send(channel, {"type": "still.here"})
    assert (await layer.receive(channel))["type"] == "still.here"
    await layer.flush()


async def test_a_burst_beyond_the_pool_waits_instead_of_failing(require_redis):
    import asyncio

    from telehealth.layers import RedisLayer

    layer = RedisLayer(hosts=[{"address": require_redis, "max_connections": 5, "timeout": 10}])
    channels = [await layer.new_channel() for _ in range(200)]
    await asyncio.gather(*(layer.group_add("burst", c) for c in channels))
    await layer.group_send("burst", {"type": "hello"})
    received = await asyncio.gather(*(layer.receive(c) for c in channels[:20]))
    assert {m["type"] for m in received} == {"hello"}
    await asyncio.gather(*(layer.group_discard("burst", c) for c in channels))
    await layer.flush()


async def test_a_cancelled_receive_ends_and_loses_no_message_of_the_process(require_redis):
    """A closing socket cancels its consumer's receive. On Python 3.11 redis-py's send dropped a
    cancellation that landed as the command went out, and the receive blocked on in Redis for
    good. Cancelled at each step of its way into Redis, with nothing to read or with a message
    for another socket of the same process waiting, the receive ends within the wait below (a
    pop blocks 1 s), and the other socket still gets its message."""
    import asyncio

    from telehealth.layers import RedisLayer
    from telehealth.settings import channel_layer_hosts

    layer = RedisLayer(hosts=channel_layer_hosts(require_redis))
    closing, other = await layer.new_channel(), await layer.new_channel()
    for steps in range(12):
        for waiting in (False, True):
            if waiting:
                await layer.send(other, {"type": "for.other", "n": steps})
            receive = asyncio.ensure_future(layer.receive(closing))
            for _ in range(steps):
                await asyncio.sleep(0)
            receive.cancel()
            done, _ = await asyncio.wait({receive}, timeout=3)
            if not done:
                receive.cancel()
                await asyncio.wait({receive})
            assert done and receive.cancelled(), (steps, waiting)
            if waiting:
                async with asyncio.timeout(3):
                    assert await layer.receive(other) == {"type": "for.other", "n": steps}
    await layer.flush()
