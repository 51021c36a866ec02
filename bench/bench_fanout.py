"""A live provider-status update fanned out to waiting-room sockets held by TWO uvicorn
processes that share one Redis channel layer and one PostgreSQL database.

BENCH_SOCKETS (default 5,000) sockets join one visit's waiting room, alternating between the
processes; then the status changes ROUNDS times (from this process, as a third one would).
Measured per round: time from the change to the last socket's frame (and the median socket's),
CPU seconds each server spent, and the Redis commands the round cost (a redis-server of the
bench's own, so no one else's traffic is counted). Also: Redis commands per second while the
sockets sit idle, and each server's memory per socket.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
      python bench/bench_fanout.py

Needs PostgreSQL (BENCH_DATABASE_URL) and `redis-server` on the PATH. The clients all run in
this one process, so the time to the last socket includes this process reading 5,000 frames;
the servers' CPU is read from /proc. Prints readable lines, then one JSON line."""

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import free_port, setup_django

if not os.environ.get("BENCH_DATABASE_URL"):
    sys.exit("bench_fanout needs PostgreSQL: set BENCH_DATABASE_URL")
if not shutil.which("redis-server"):
    sys.exit("bench_fanout needs redis-server on the PATH")

REDIS_DIR = Path(tempfile.mkdtemp(prefix="bench-fanout-redis-"))
REDIS_PORT = free_port()
os.environ["BENCH_REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
setup_django()

import redis  # noqa: E402
from common import fresh_database, raise_file_limit, start_server, stop_server  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.utils import timezone  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from worlds import practice as make_practice  # noqa: E402
from worlds import staff  # noqa: E402

from scheduling.models import Appointment, AppointmentType  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Provider, Role  # noqa: E402
from visits import selectors, services  # noqa: E402

SOCKETS = int(os.environ.get("BENCH_SOCKETS", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = 50  # sockets opened at once
PROCESS_POOL = os.environ.get("BENCH_DB_POOL_MAX_SIZE", "10")


def start_redis() -> subprocess.Popen:
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(REDIS_DIR),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=REDIS_PORT)
    for _ in range(200):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def waiting_visit():
    practice = make_practice("fanout")
    clinician = staff(practice, Role.CLINICIAN)
    provider = Provider.objects.create(
        user=clinician,
        practice=practice,
        slug="doc",
        display_name="Dr Doc",
        npi="1234567893",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    kind = AppointmentType.objects.create(practice=practice, name="Video", slug="video")
    patient = account_services.patient_create(
        practice=practice,
        legal_name="Patient Waiting",
        date_of_birth=date(1980, 1, 1),
        phone="+16175550001",
        email="p@bench.test",
        state="MA",
    )
    start = timezone.now() + timedelta(minutes=5)
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
    services.patient_arrives(visit=visit)
    return visit, clinician


def grant_cookie(visit) -> str:
    session = SessionStore()
    session[selectors.GRANTS_KEY] = {str(visit.pk): visit.patient_id}
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def redis_calls(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    calls.pop("info", None)  # the bench's own reading
    return calls


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {k: v for k, v in sorted(delta.items(), key=lambda kv: -kv[1]) if v > 0}


async def open_sockets(ports: list[int], path: str, cookie: str) -> list:
    sockets = []
    for start in range(0, SOCKETS, BATCH):
        batch = await asyncio.gather(
            *(
                connect(
                    f"ws://localhost:{ports[i % len(ports)]}{path}",
                    additional_headers={
                        "Origin": f"http://localhost:{ports[i % len(ports)]}",
                        "Cookie": cookie,
                    },
                    open_timeout=120,
                    ping_interval=None,
                    max_queue=4,
                )
                for i in range(start, min(start + BATCH, SOCKETS))
            ),
            return_exceptions=True,
        )
        sockets += [s for s in batch if not isinstance(s, BaseException)]
    for ws in sockets:
        await ws.recv()  # the initial status frame
    return sockets


async def one_round(sockets, visit, clinician, servers, client, text: str) -> dict:
    cpu_before = [cpu_seconds(s.pid) for s in servers]
    calls_before = redis_calls(client)
    client_cpu_before = time.process_time()
    began = time.perf_counter()
    arrivals: list[float] = []

    async def hears(ws) -> bool:
        while True:
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
            except Exception:
                return False
            if frame["type"] == "provider-status" and frame["text"] == text:
                arrivals.append(time.perf_counter() - began)
                return True

    listening = asyncio.gather(*(hears(ws) for ws in sockets))
    await asyncio.to_thread(
        lambda: services.set_provider_status(visit=visit, by=clinician, text=text)
    )
    heard = sum(await listening)
    cpu_after = [cpu_seconds(s.pid) for s in servers]
    calls = calls_between(calls_before, redis_calls(client))
    return {
        "received": heard,
        "last_s": round(max(arrivals), 3) if arrivals else None,
        "median_s": round(statistics.median(arrivals), 3) if arrivals else None,
        "server_cpu_s": [round(a - b, 3) for a, b in zip(cpu_after, cpu_before, strict=True)],
        "client_cpu_s": round(time.process_time() - client_cpu_before, 3),
        "redis_commands": sum(calls.values()),
        "redis_by_command": calls,
    }


async def measure(servers, ports, visit, clinician, client) -> dict:
    path = f"/ws/visits/{visit.pk}/waiting/"
    cookie = await asyncio.to_thread(grant_cookie, visit)
    rss_before = [rss_mib(s.pid) for s in servers]
    began = time.perf_counter()
    sockets = await open_sockets(ports, path, cookie)
    opened_s = time.perf_counter() - began
    await asyncio.sleep(2)
    rss_after = [rss_mib(s.pid) for s in servers]
    idle_before = redis_calls(client)
    await asyncio.sleep(10)
    idle_calls = sum(calls_between(idle_before, redis_calls(client)).values())
    rounds = []
    for i in range(ROUNDS):
        rounds.append(
            await one_round(sockets, visit, clinician, servers, client, f"Running {i + 5} min late")
        )
        await asyncio.sleep(1)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "sockets_open": len(sockets),
        "seconds_to_open": round(opened_s, 1),
        "server_rss_mib_before": [round(r, 1) for r in rss_before],
        "server_rss_mib_after": [round(r, 1) for r in rss_after],
        "kib_per_socket": round(
            (sum(rss_after) - sum(rss_before)) * 1024 / max(len(sockets), 1), 1
        ),
        "redis_commands_per_s_idle": round(idle_calls / 10, 1),
        "rounds": rounds,
    }


def main() -> None:
    raise_file_limit()
    redis_server = start_redis()
    drop = fresh_database()
    servers: list[subprocess.Popen] = []
    try:
        visit, clinician = waiting_visit()
        ports = [free_port(), free_port()]
        extra = {"DB_POOL_MAX_SIZE": PROCESS_POOL, "DB_POOL_MIN_SIZE": "1"}
        servers = [start_server(port, extra) for port in ports]
        client = redis.Redis(port=REDIS_PORT)
        figures: dict = {
            "benchmark": "fanout",
            "processes": len(servers),
            "sockets": SOCKETS,
            "load_average": os.getloadavg(),
        }
        figures.update(asyncio.run(measure(servers, ports, visit, clinician, client)))
        figures["load_average_after"] = os.getloadavg()
    finally:
        for server in servers:
            stop_server(server)
        drop()
        redis_server.terminate()
        redis_server.wait(timeout=10)
        shutil.rmtree(REDIS_DIR, ignore_errors=True)
    print(
        f"{figures['sockets_open']} waiting sockets over {figures['processes']} processes, "
        f"opened in {figures['seconds_to_open']} s, {figures['kib_per_socket']} KiB each"
    )
    print(f"idle Redis commands/s    {figures['redis_commands_per_s_idle']}")
    for i, r in enumerate(figures["rounds"], 1):
        print(
            f"round {i}: {r['received']} received, median {r['median_s']} s, last {r['last_s']} s, "
            f"server CPU {r['server_cpu_s']} s, Redis commands {r['redis_commands']} "
            f"{dict(list(r['redis_by_command'].items())[:4])}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
