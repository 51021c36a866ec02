"""Video visit signalling, measured against baselines in the same run:

1. relay latency of an offer between two WebSocket clients through uvicorn and the channel
   layer (Redis with BENCH_REDIS_URL), against the same hand-off through an asyncio.Queue;
2. call set-up of two aiortc peers (host candidates only) through our signalling, from both
   joined to ICE connected, against the same peers exchanging SDP directly;
3. waiting-room sockets one uvicorn process holds (BENCH_SOCKETS, default 5,000), its memory
   per socket, and how many receive a live update.

    python bench/bench_visits.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
      BENCH_REDIS_URL=redis://127.0.0.1:6379/8 python bench/bench_visits.py

The server is a separate uvicorn process on loopback. Prints readable lines, then one JSON
line with the figures last."""

import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import setup_django

if not os.environ.get("BENCH_DATABASE_URL"):
    # The server process must see the database: a file, not SQLite's in-memory default.
    os.environ["TEST_DATABASE_NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
setup_django()

from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from common import (  # noqa: E402
    free_port,
    fresh_database,
    raise_file_limit,
    start_server,
    stop_server,
)
from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from scheduling.models import Appointment, AppointmentType  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice, Provider, Role  # noqa: E402
from visits import selectors, services  # noqa: E402

RELAYS = 300
SOCKETS = int(os.environ.get("BENCH_SOCKETS", "5000"))
BATCH = 50  # sockets opened at once, like patients arriving in a busy hour, not all in one tick


def grant_cookie(visit) -> str:
    session = SessionStore()
    session[selectors.GRANTS_KEY] = {str(visit.pk): visit.patient_id}
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def world():
    practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
    user = account_services.staff_user_create(
        email="doc@bench.test",
        password="x" * 16,
        full_name="Doc",
        role=Role.CLINICIAN,
        practice=practice,
    )
    provider = Provider.objects.create(
        user=user,
        practice=practice,
        slug="doc",
        display_name="Dr Doc",
        npi="1234567893",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    kind = AppointmentType.objects.create(practice=practice, name="Video", slug="video")
    visits = []
    for i in range(3):
        patient = account_services.patient_create(
            practice=practice,
            legal_name=f"Patient {i}",
            date_of_birth=date(1980, 1, 1),
            phone=f"+1617555{i:04d}",
            email=f"p{i}@bench.test",
            state="MA",
        )
        start = timezone.now() + timedelta(hours=i + 1)
        appointment = Appointment.objects.create(
            practice=practice,
            provider=provider,
            patient=patient,
            appointment_type=kind,
            start=start,
            end=start + timedelta(minutes=20),
            blocked_start=start,
            blocked_end=start + timedelta(minutes=20),
            modality="video",
            booked_via="staff",
        )
        visit = services.visit_for_appointment(appointment)
        visits.append(visit)
    # Two patients' visits with admitted participants for the relay and set-up tests: the
    # "clinician" side is a second patient grant on the same visit, admitted as a guest.
    return visits


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def next_of(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
        if frame["type"] == kind:
            return frame


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def relay_latency(url: str, cookie: str, origin: str) -> dict:
    headers = {"Origin": origin, "Cookie": cookie}
    async with (
        connect(url, additional_headers=headers) as a,
        connect(url, additional_headers=headers) as b,
    ):
        await next_of(a, "welcome")
        b_peer = (await next_of(b, "welcome"))["peer"]
        await next_of(a, "peer-joined")
        sdp = "v=0\r\n" + "a=x\r\n" * 200  # an offer-sized frame
        samples = []
        for _ in range(RELAYS):
            began = time.perf_counter()
            await a.send(json.dumps({"type": "offer", "to": b_peer, "sdp": sdp}))
            await next_of(b, "offer")
            samples.append((time.perf_counter() - began) * 1000)
    queue: asyncio.Queue = asyncio.Queue()
    baseline = []
    for _ in range(RELAYS):
        began = time.perf_counter()
        await queue.put(json.dumps({"type": "offer", "to": "x", "sdp": sdp}))
        json.loads(await queue.get())
        baseline.append((time.perf_counter() - began) * 1000)
    return {
        "relay_p50_ms": round(percentile(samples, 50), 2),
        "relay_p95_ms": round(percentile(samples, 95), 2),
        "queue_p50_ms": round(percentile(baseline, 50), 4),
        "relay_ratio_p50": round(percentile(samples, 50) / max(percentile(baseline, 50), 1e-6)),
    }


def peer():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(VideoStreamTrack())
    return pc


async def until_connected(*pcs) -> None:
    while any(pc.connectionState != "connected" for pc in pcs):
        await asyncio.sleep(0.005)


async def setup_direct() -> float:
    a, b = peer(), peer()
    began = time.perf_counter()
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    await until_connected(a, b)
    elapsed = time.perf_counter() - began
    await a.close()
    await b.close()
    return elapsed


async def setup_signalled(url: str, cookie: str, origin: str) -> float:
    headers = {"Origin": origin, "Cookie": cookie}
    async with (
        connect(url, additional_headers=headers) as ws_a,
        connect(url, additional_headers=headers) as ws_b,
    ):
        await next_of(ws_a, "welcome")
        b_peer = (await next_of(ws_b, "welcome"))["peer"]
        began = time.perf_counter()  # both joined
        await next_of(ws_a, "peer-joined")
        a, b = peer(), peer()
        await a.setLocalDescription(await a.createOffer())
        await ws_a.send(json.dumps({"type": "offer", "to": b_peer, "sdp": a.localDescription.sdp}))
        offer = await next_of(ws_b, "offer")
        await b.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await b.setLocalDescription(await b.createAnswer())
        await ws_b.send(
            json.dumps({"type": "answer", "to": offer["from"], "sdp": b.localDescription.sdp})
        )
        answer = await next_of(ws_a, "answer")
        await a.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await until_connected(a, b)
        elapsed = time.perf_counter() - began
        await a.close()
        await b.close()
    return elapsed


async def waiting_sockets(url: str, cookie: str, origin: str, pid: int, visit) -> dict:
    before = rss_kib(pid)
    headers = {"Origin": origin, "Cookie": cookie}
    sockets = []
    began = time.perf_counter()
    for start in range(0, SOCKETS, BATCH):
        batch = await asyncio.gather(
            *(
                connect(url, additional_headers=headers, open_timeout=60, ping_interval=None)
                for _ in range(start, min(start + BATCH, SOCKETS))
            ),
            return_exceptions=True,
        )
        sockets += [s for s in batch if not isinstance(s, BaseException)]
    for ws in sockets:
        await ws.recv()  # the initial status frame
    opened = time.perf_counter() - began
    await asyncio.sleep(1)
    after = rss_kib(pid)
    # A live update to every socket: the provider's status (needs the Redis layer when the
    # server is another process).
    await asyncio.to_thread(
        lambda: services.set_provider_status(
            visit=visit, by=visit.provider.user, text="Running 5 minutes late"
        )
    )

    async def hears(ws) -> bool:
        try:
            return (
                json.loads(await asyncio.wait_for(ws.recv(), timeout=15))["type"]
                == "provider-status"
            )
        except Exception:
            return False

    heard = sum(await asyncio.gather(*(hears(ws) for ws in sockets)))
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "waiting_sockets_open": len(sockets),
        "waiting_sockets_seconds_to_open": round(opened, 1),
        "server_rss_before_mib": round(before / 1024, 1),
        "server_rss_after_mib": round(after / 1024, 1),
        "kib_per_socket": round((after - before) / max(len(sockets), 1), 1),
        "live_update_received": heard,
    }


async def measure(port: int, pid: int, visits) -> dict:
    base = f"ws://localhost:{port}"
    origin = f"http://localhost:{port}"
    relay_visit, setup_visit, waiting_visit = visits
    figures = {}
    figures.update(
        await relay_latency(
            f"{base}/ws/visits/{relay_visit.pk}/",
            await asyncio.to_thread(grant_cookie, relay_visit),
            origin,
        )
    )
    direct = [await setup_direct() for _ in range(5)]
    cookie = await asyncio.to_thread(grant_cookie, setup_visit)
    signalled = [
        await setup_signalled(f"{base}/ws/visits/{setup_visit.pk}/", cookie, origin)
        for _ in range(5)
    ]
    figures.update(
        {
            "setup_direct_ms": round(statistics.median(direct) * 1000, 1),
            "setup_signalled_ms": round(statistics.median(signalled) * 1000, 1),
            "setup_ratio": round(statistics.median(signalled) / statistics.median(direct), 2),
        }
    )
    figures.update(
        await waiting_sockets(
            f"{base}/ws/visits/{waiting_visit.pk}/waiting/",
            await asyncio.to_thread(grant_cookie, waiting_visit),
            origin,
            pid,
            waiting_visit,
        )
    )
    return figures


def main() -> None:
    raise_file_limit()
    drop = fresh_database()
    server = None
    try:
        visits = world()
        # The relay and set-up visits: the patient is admitted; the same grant joins twice
        # (two tabs of one patient are two peers).
        for visit in visits[:2]:
            services.patient_arrives(visit=visit)
            visit.participants.update(admitted_at=timezone.now())
            visit.state = "in_progress"
            visit.save(update_fields=["state"])
        services.patient_arrives(visit=visits[2])
        port = free_port()
        server = start_server(port)
        figures = {
            "benchmark": "visits",
            "database": connection.vendor,
            "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].split(".")[-1],
        }
        figures.update(asyncio.run(measure(port, server.pid, visits)))
    finally:
        if server is not None:
            stop_server(server)
        drop()
    print(
        f"relay p50/p95          {figures['relay_p50_ms']} / {figures['relay_p95_ms']} ms "
        f"(queue hand-off {figures['queue_p50_ms']} ms)"
    )
    print(
        f"call set-up            {figures['setup_signalled_ms']} ms through signalling, "
        f"{figures['setup_direct_ms']} ms direct (x{figures['setup_ratio']})"
    )
    print(
        f"waiting-room sockets   {figures['waiting_sockets_open']} open, "
        f"{figures['kib_per_socket']} KiB each, live update reached "
        f"{figures['live_update_received']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
