"""What one device upload of 100 readings costs, in CPU: the web process's (time.process_time
over the request) and PostgreSQL's (the time its backends ran, from /proc/<pid>/schedstat,
so the database server must run on this machine), per batch, measured batch by batch in the same
run for:

- `token_path`: `POST /api/v1/rpm/readings` with the device's bearer token through the
  Django request (test client): the lean path, TokenAPIMiddleware skipping the browser
  middleware;
- `full_stack`: the same request with TOKEN_API_PATHS empty, so every middleware runs (the
  baseline of the lean path);
- `service`: uploads.ingest_payload called directly with the device from its token (no HTTP,
  no middleware, no API layer): the floor for the request.

Each kind uploads under a device of its own, the three interleaved batch by batch so they see
the same history and the same machine. CPU time rather than wall time (the machine is shared),
the median over the batches.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/0 python bench/bench_rpm_upload.py

PostgreSQL only. Prints readable lines, then one JSON line last."""

import json
import os
import statistics
import time
from datetime import timedelta

import psycopg
from common import setup_django

setup_django()

from bench_rpm import world  # noqa: E402
from common import fresh_database  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from rpm import services, uploads  # noqa: E402

BATCH = 100
BATCHES = int(os.environ.get("BENCH_BATCHES", "200"))
WARM = 20
STEP = timedelta(seconds=64)  # between readings: a batch spans under two hours
KINDS = ("token_path", "full_stack", "service")


def body(start, batch: int) -> bytes:
    """BATCH glucose readings, as bench_http's wrk script sends them."""
    items = [
        {
            "type": "glucose",
            "value": 80 + (batch + j) % 90,
            "unit": "mg/dL",
            "measured_at": (start + STEP * (batch * BATCH + j)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for j in range(BATCH)
    ]
    return json.dumps({"readings": items}).encode()


def backend_cpu(pids: list[int]) -> float:
    """Seconds of CPU these PostgreSQL backends have used: the first field of
    /proc/pid/schedstat, in nanoseconds (/proc/pid/stat counts 10 ms ticks)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total / 1e9


def backends(monitor, database: str) -> list[int]:
    """The benchmark's own backends: the pool rotates over several connections."""
    return [
        pid
        for (pid,) in monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        )
    ]


def main() -> None:
    if connection.vendor != "postgresql":
        print("bench_rpm_upload reads PostgreSQL's CPU: set BENCH_DATABASE_URL to run it.")
        print(json.dumps({"benchmark": "rpm_upload", "skipped": "needs PostgreSQL"}))
        return
    drop = fresh_database()
    try:
        clinician, patients = world()
        tokens = {
            kind: services.device_create(patient=patients[0], kind="glucometer", by=clinician)[1]
            for kind in KINDS
        }
        lean = Client(HTTP_HOST="localhost")
        with override_settings(TOKEN_API_PATHS=()):
            full = Client(HTTP_HOST="localhost")
            full.handler.load_middleware()  # now, while no path takes the lean way
        clients = {"token_path": lean, "full_stack": full}
        db = connection.settings_dict
        monitor = psycopg.connect(
            f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}",
            autocommit=True,
        )
        start = timezone.now() - timedelta(days=60)
        spent: dict[str, dict[str, list[float]]] = {kind: {"app": [], "db": []} for kind in KINDS}

        def upload(kind: str, payload: bytes) -> None:
            if kind == "service":
                device = services.device_for_token(tokens[kind])
                assert device is not None
                answer = uploads.ingest_payload(device=device, payload=json.loads(payload))
            else:
                response = clients[kind].post(
                    "/api/v1/rpm/readings",
                    payload,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {tokens[kind]}",
                )
                assert response.status_code == 200, response.content
                answer = response.json()
            assert answer["accepted"] == BATCH, answer

        for b in range(WARM + BATCHES):
            payload = body(start, b)
            for kind in KINDS:
                pids = backends(monitor, db["NAME"])
                app, db_cpu = time.process_time(), backend_cpu(pids)
                upload(kind, payload)
                if b >= WARM:
                    spent[kind]["app"].append(time.process_time() - app)
                    spent[kind]["db"].append(backend_cpu(pids) - db_cpu)
        monitor.close()
    finally:
        drop()
    figures = {
        kind: {
            "app_cpu_ms": round(statistics.median(spent[kind]["app"]) * 1000, 2),
            "db_cpu_ms": round(statistics.median(spent[kind]["db"]) * 1000, 2),
        }
        for kind in KINDS
    }
    full_app = figures["full_stack"]["app_cpu_ms"]
    result = {
        "benchmark": "rpm_upload",
        "batch": BATCH,
        "batches": BATCHES,
        "kinds": figures,
        "token_path_vs_full_stack_app_cpu": round(
            figures["token_path"]["app_cpu_ms"] / full_app, 3
        ),
    }
    for kind, f in figures.items():
        print(
            f"{kind:>11}: app {f['app_cpu_ms']:6.2f} ms  PostgreSQL {f['db_cpu_ms']:6.2f} ms "
            f"CPU per batch of {BATCH}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
