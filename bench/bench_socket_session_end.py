"""How fast the server closes a session's sockets once the session ends.

Each run signs a patient in, opens two sockets of that session (their message thread and
their own events, `/ws/me/`) through the project's ASGI stack (origin check, sessions, auth),
then ends the session from an HTTP connection and times until both sockets are closed by the
server:

- `sign_out`: POST /accounts/logout/ (the session's group hears `session.end`);
- `password`: the account's password changes elsewhere (the user's sockets hear
  `session.check`, re-read the session and close).

The baseline, measured in the same process and run, is the HTTP logout POST itself; the
ratio is the time from the POST's start until both sockets are closed, over the POST alone
(1.0 would mean the sockets close as the response returns). Runs on the in-memory channel
layer, and on Redis as well when BENCH_REDIS_URL or REDIS_URL is set (a Redis layer needs no
second process to be real: every event goes through Redis).

    python bench/bench_socket_session_end.py
    BENCH_RUNS=200 BENCH_REDIS_URL=redis://127.0.0.1:6379/8 \\
      BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
      python bench/bench_socket_session_end.py

Prints readable lines, then one JSON line with the figures last."""

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import setup_django

REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL", "")
if not os.environ.get("BENCH_DATABASE_URL"):
    os.environ["TEST_DATABASE_NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
setup_django()

from asgiref.sync import sync_to_async  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from common import fresh_database  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from messaging import services as messaging_services  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Patient, Practice, User  # noqa: E402
from telehealth.asgi import application  # noqa: E402
from telehealth.realtime import CLOSE_SESSION_ENDED  # noqa: E402
from telehealth.settings import channel_layer_hosts  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "100"))
PASSWORD = "x" * 16
IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def a_patient_with_a_thread() -> tuple[User, int]:
    from datetime import date

    practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
    patient: Patient = account_services.patient_create(
        practice=practice,
        legal_name="Pat Bench",
        date_of_birth=date(1980, 1, 2),
        phone="+16175550123",
        email="pat@bench.test",
        state="MA",
    )
    user = account_services.patient_user_create(patient=patient, password=PASSWORD)
    thread, _ = messaging_services.thread_start(
        patient=patient, subject="Refill", body="Hello", by=user
    )
    return user, thread.pk


def signed_in(user: User) -> tuple[Client, bytes]:
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(pk=user.pk))  # the password may have changed
    name = settings.SESSION_COOKIE_NAME
    return client, f"{name}={client.cookies[name].value}".encode()


async def open_socket(path: str, cookie: bytes) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await ws.connect()
    assert connected, code
    return ws


async def closed(ws: WebsocketCommunicator) -> float:
    while True:
        output = await ws.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            assert output["code"] == CLOSE_SESSION_ENDED, output
            return time.perf_counter()


def sign_out(client: Client, user: User) -> None:
    assert client.post("/accounts/logout/").status_code in (200, 302)


def change_password(client: Client, user: User) -> None:
    fresh = User.objects.get(pk=user.pk)
    fresh.set_password(PASSWORD)
    fresh.save()


async def one_run(
    user: User, thread_id: int, end: Callable[[Client, User], None]
) -> tuple[float, float, float]:
    """In ms: the ending request's duration; from its start, and from its response, until
    both sockets are closed (the in-memory layer often closes them before the response)."""
    client, cookie = await sync_to_async(signed_in)(user)
    sockets = [
        await open_socket(f"/ws/messaging/threads/{thread_id}/", cookie),
        await open_socket("/ws/me/", cookie),
    ]
    await sockets[0].receive_json_from()  # hello
    waits = [asyncio.ensure_future(closed(ws)) for ws in sockets]
    began = time.perf_counter()
    await sync_to_async(end)(client, user)
    ended = time.perf_counter()
    last_close = max(await asyncio.gather(*waits))
    for ws in sockets:
        await ws.disconnect()
    return (
        (ended - began) * 1000,
        (last_close - began) * 1000,
        max(last_close - ended, 0.0) * 1000,
    )


async def series(user: User, thread_id: int, end: Callable[[Client, User], None]) -> dict:
    await one_run(user, thread_id, end)  # warm up
    request_ms, total_ms, close_ms = [], [], []
    for _ in range(RUNS):
        request, total, close = await one_run(user, thread_id, end)
        request_ms.append(request)
        total_ms.append(total)
        close_ms.append(close)
    return {
        "request_p50_ms": round(statistics.median(request_ms), 2),
        "from_request_start_p50_ms": round(statistics.median(total_ms), 2),
        "from_request_start_max_ms": round(max(total_ms), 2),
        "close_p50_ms": round(statistics.median(close_ms), 2),
        "close_p95_ms": round(percentile(close_ms, 95), 2),
        "close_max_ms": round(max(close_ms), 2),
    }


def measure(layers: dict, user: User, thread_id: int) -> dict:
    with override_settings(CHANNEL_LAYERS=layers):
        out = asyncio.run(series(user, thread_id, sign_out))
        out["ratio_to_logout_post"] = round(
            out["from_request_start_p50_ms"] / out["request_p50_ms"], 3
        )
        password = asyncio.run(series(user, thread_id, change_password))
    out.update({f"password_{k}": v for k, v in password.items() if k.startswith("close")})
    return out


def main() -> None:
    drop = fresh_database()
    try:
        user, thread_id = a_patient_with_a_thread()
        figures: dict = {"benchmark": "socket_session_end", "database": connection.vendor}
        figures["runs"] = RUNS
        figures["in_memory"] = measure(IN_MEMORY, user, thread_id)
        if REDIS_URL:
            redis = {
                "default": {
                    "BACKEND": "telehealth.layers.RedisLayer",
                    "CONFIG": {"hosts": channel_layer_hosts(REDIS_URL)},
                }
            }
            figures["redis"] = measure(redis, user, thread_id)
    finally:
        drop()
    for layer in ("in_memory", "redis"):
        if layer in figures:
            f = figures[layer]
            print(
                f"{layer:10} sign-out: sockets closed {f['close_p50_ms']} / {f['close_p95_ms']} / "
                f"{f['close_max_ms']} ms (p50/p95/max) after the logout POST's response; "
                f"{f['from_request_start_p50_ms']} ms from its start, the POST alone "
                f"{f['request_p50_ms']} ms (x{f['ratio_to_logout_post']}); password change: "
                f"{f['password_close_p50_ms']} / {f['password_close_p95_ms']} / "
                f"{f['password_close_max_ms']} ms"
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
