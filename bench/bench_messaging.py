"""Messaging, measured against baselines in the same run:

1. delivery latency of a message from one WebSocket client to another (the patient's phone
   and their laptop on the same thread) through uvicorn and the channel layer (Redis with
   BENCH_REDIS_URL): the message is validated, stored encrypted with its search terms and
   audit event, its email notice queued, and pushed; against the same hand-off through an
   asyncio.Queue;
2. the staff inbox's first page with 10,000 threads in the practice, against the same page
   for a practice with one page's worth (50 threads).

    python bench/bench_messaging.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
      BENCH_REDIS_URL=redis://127.0.0.1:6379/8 python bench/bench_messaging.py

Prints readable lines, then one JSON line with the figures last."""

import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import setup_django

if not os.environ.get("BENCH_DATABASE_URL"):
    os.environ["TEST_DATABASE_NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
setup_django()

import worlds  # noqa: E402
from common import (  # noqa: E402
    free_port,
    fresh_database,
    raise_file_limit,
    start_server,
    stop_server,
)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from messaging import services  # noqa: E402
from messaging.models import Message, Thread  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Role  # noqa: E402

DELIVERIES = 300
THREADS = int(os.environ.get("BENCH_THREADS", "10000"))
RENDERS = 15


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def practice_with_threads(slug: str, count: int):
    practice = worlds.practice(slug)
    desk = worlds.staff(practice, Role.FRONT_DESK)
    patients = worlds.patients(practice, min(count, 200), random_phones=True)
    now = timezone.now()
    categories = ["appointment", "refill", "billing", "clinical", "other"]
    threads = Thread.objects.bulk_create(
        [
            Thread(
                practice=practice,
                patient=patients[i % len(patients)],
                subject=f"Question {i}",
                category=categories[i % 5],
                status=["open", "pending", "closed"][i % 3],
                urgent=i % 97 == 0,
                last_seq=1,
                last_public_seq=1,
                last_patient_seq=1,
                last_message_at=now - timedelta(minutes=i),
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    Message.objects.bulk_create(
        [
            Message(thread=t, seq=1, author_kind="patient", body="Hello, a question please.")
            for t in threads
        ],
        batch_size=1000,
    )
    return practice, desk, patients


def inbox_ms(client: Client) -> float:
    samples = []
    for _ in range(RENDERS):
        began = time.perf_counter()
        response = client.get("/messaging/inbox/")
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples)


async def queue_handoff() -> list[float]:
    queue: asyncio.Queue = asyncio.Queue()
    samples = []
    for i in range(DELIVERIES):
        began = time.perf_counter()
        await queue.put({"type": "message", "body": f"m{i}"})
        await queue.get()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def delivery(url: str, cookie_a: str, cookie_b: str, origin: str) -> list[float]:
    samples = []
    async with (
        connect(url, additional_headers={"Origin": origin, "Cookie": cookie_a}) as sender,
        connect(url, additional_headers={"Origin": origin, "Cookie": cookie_b}) as receiver,
    ):
        await sender.recv()  # hello
        await receiver.recv()
        for i in range(DELIVERIES):
            body = f"Message {i}: is the clinic open on Saturday?"
            began = time.perf_counter()
            await sender.send(json.dumps({"type": "message", "body": body}))
            while True:
                frame = json.loads(await receiver.recv())
                if frame.get("type") == "message" and frame["body"] == body:
                    break
            samples.append((time.perf_counter() - began) * 1000)
            await sender.recv()  # the "sent" acknowledgement (and its own copy)
    return samples


def main() -> None:
    raise_file_limit()
    drop = fresh_database()
    server = None
    try:
        big, big_desk, patients = practice_with_threads("large", THREADS)
        small, small_desk, _ = practice_with_threads("small", 50)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would have, after a bulk load
        figures = {
            "benchmark": "messaging",
            "database": connection.vendor,
            "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].split(".")[-1],
            "threads": THREADS,
        }
        inbox_ms(worlds.signed_in(big_desk))  # warm up templates and connections
        figures["inbox_small_ms"] = round(inbox_ms(worlds.signed_in(small_desk)), 1)
        figures["inbox_large_ms"] = round(inbox_ms(worlds.signed_in(big_desk)), 1)
        figures["inbox_ratio"] = round(figures["inbox_large_ms"] / figures["inbox_small_ms"], 2)

        patient = patients[0]
        account_services.patient_user_create(patient=patient, password=worlds.PASSWORD)
        thread, _ = services.thread_start(patient=patient, subject="Saturday", body="Hi")
        name = settings.SESSION_COOKIE_NAME
        cookies = [
            f"{name}={worlds.signed_in(patient.user).cookies[name].value}",
            f"{name}={worlds.signed_in(patient.user).cookies[name].value}",
        ]
        port = free_port()
        server = start_server(port, {"MESSAGING_RATE": "100000"})
        url = f"ws://localhost:{port}/ws/messaging/threads/{thread.pk}/"
        live = asyncio.run(delivery(url, cookies[0], cookies[1], f"http://localhost:{port}"))
        baseline = asyncio.run(queue_handoff())
        figures.update(
            {
                "delivery_p50_ms": round(statistics.median(live), 2),
                "delivery_p95_ms": round(percentile(live, 95), 2),
                "queue_p50_ms": round(statistics.median(baseline), 4),
                "delivery_ratio_p50": round(statistics.median(live) / statistics.median(baseline)),
            }
        )
    finally:
        if server is not None:
            stop_server(server)
        drop()
    print(
        f"delivery p50/p95       {figures['delivery_p50_ms']} / {figures['delivery_p95_ms']} ms "
        f"(queue hand-off {figures['queue_p50_ms']} ms)"
    )
    print(
        f"inbox first page       {figures['inbox_large_ms']} ms with {THREADS} threads, "
        f"{figures['inbox_small_ms']} ms with 50 (x{figures['inbox_ratio']})"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
