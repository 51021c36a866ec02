"""PostgreSQL connections one uvicorn process holds under 32 concurrent clients.

Three configurations of the same process, each serving the public booking page and the public
slots API to 32 keep-alive clients for BENCH_SECONDS (default 15):

- `persistent`: no pool, CONN_MAX_AGE=60 (what the project shipped before the pool): every
  request thread keeps a connection of its own;
- `fresh`: no pool, CONN_MAX_AGE=0: a new connection per request;
- `pool`: the shipped default, Django's psycopg pool (DB_POOL_MAX_SIZE, default 10).

A sampler counts the server's backends on the benchmark database every 50 ms
(pg_stat_activity). Requests per second are given as a ratio to `persistent`, measured in
the same run. Needs PostgreSQL:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
        python bench/bench_connections.py

Prints readable lines, then one JSON line last."""

import http.client
import json
import os
import statistics
import threading
import time
from datetime import datetime
from datetime import time as clock

from common import free_port, fresh_database, setup_django, start_server, stop_server

CLIENTS = 32
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))

CONFIGS = {
    "persistent": {"DB_POOL_MAX_SIZE": "0", "DB_CONN_MAX_AGE": "60"},
    "fresh": {"DB_POOL_MAX_SIZE": "0", "DB_CONN_MAX_AGE": "0"},
    "pool": {},
}


def world() -> list[str]:
    from scheduling.models import AppointmentType, AvailabilityRule
    from telehealth.accounts import services as account_services
    from telehealth.accounts.models import Practice, Provider, Role

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
        display_name="Dr Bench",
        npi="1234567893",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    kind = AppointmentType.objects.create(
        practice=practice,
        name="Video",
        slug="video",
        duration_minutes=20,
        minimum_notice_minutes=0,
        booking_horizon_days=60,
    )
    kind.providers.set([provider])
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=provider, weekday=d, start_time=clock(8), end_time=clock(18))
        for d in range(7)
    )
    today = datetime.now().date().isoformat()  # noqa: DTZ005 - a date for the query string
    return [
        "/book/bench/",
        f"/api/v1/scheduling/slots?practice=bench&appointment_type=video&start={today}&days=7",
    ]


def count_backends(dsn: str, database: str, stop: threading.Event, samples: list[int]) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            ).fetchone()
            samples.append(row[0] if row else 0)
            time.sleep(0.05)


def client(port: int, paths: list[str], until: float, results: dict, lock: threading.Lock) -> None:
    done = failed = 0
    latencies: list[float] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = 0
    while time.monotonic() < until:
        path = paths[i % len(paths)]
        i += 1
        start = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Host": "localhost"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies.append(time.perf_counter() - start)
        done += ok
        failed += not ok
    conn.close()
    with lock:
        results["done"] += done
        results["failed"] += failed
        results["latencies"].extend(latencies)


def run(config: str, paths: list[str], dsn: str, database: str) -> dict:
    port = free_port()
    server = start_server(port, CONFIGS[config])
    try:
        # Warm up: imports, templates, the pool's first connections.
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in paths:
            warm.request("GET", path, headers={"Host": "localhost"})
            body = warm.getresponse()
            body.read()
            if body.status != 200:
                raise RuntimeError(f"{path} answered {body.status}")
        warm.close()
        stop = threading.Event()
        samples: list[int] = []
        sampler = threading.Thread(target=count_backends, args=(dsn, database, stop, samples))
        sampler.start()
        results: dict = {"done": 0, "failed": 0, "latencies": []}
        lock = threading.Lock()
        until = time.monotonic() + SECONDS
        clients = [
            threading.Thread(target=client, args=(port, paths, until, results, lock))
            for _ in range(CLIENTS)
        ]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        stop.set()
        sampler.join()
    finally:
        stop_server(server)
    latencies = sorted(results["latencies"])
    return {
        "requests_per_s": round(results["done"] / SECONDS, 1),
        "failed": results["failed"],
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "connections_max": max(samples),
        "connections_median": statistics.median(samples),
    }


def main() -> None:
    if not os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres"):
        print("bench_connections needs PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
        print(json.dumps({"skipped": "needs BENCH_DATABASE_URL"}))
        return
    setup_django()
    from django.db import connection

    drop = fresh_database()
    try:
        paths = world()
        db = connection.settings_dict
        database = db["NAME"]
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        dsn = f"postgresql://{db['USER']}@{host}:{port}/{database}"
        connection.close()
        figures = {name: run(name, paths, dsn, database) for name in CONFIGS}
    finally:
        drop()
    base = figures["persistent"]["requests_per_s"]
    for name, f in figures.items():
        f["ratio_to_persistent"] = round(f["requests_per_s"] / base, 2) if base else None
        print(
            f"{name:>10}: {f['requests_per_s']:7.1f} req/s (x{f['ratio_to_persistent']}), "
            f"p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, failed {f['failed']}, "
            f"connections held max {f['connections_max']}, median {f['connections_median']}"
        )
    print(json.dumps({"clients": CLIENTS, "seconds": SECONDS, **figures}))


if __name__ == "__main__":
    main()
