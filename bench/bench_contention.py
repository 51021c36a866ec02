"""Does the patient portal scale with the server's workers as a trivial view does?

32 patients of 8 different practices (4 each, every practice with its own providers and
half a year of appointments) each read their own appointments page, a PHI page whose every
view is audited, over real HTTP (wrk, 32 connections on 2 threads, BENCH_SECONDS each,
default 10). The same load runs against uvicorn with 1 worker and then with 2, and so does
the anonymous `bench/ok` view (see bench_http.py); the portal's scaling factor (requests/s
with 2 workers over 1) is printed next to the trivial view's, measured in the same run.
Target: the portal scales at least 1.8x, as the trivial view does. On a machine with fewer
than 3 cores wrk competes with the workers, so the trivial view's factor is the yardstick.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/0 python bench/bench_contention.py

Each run also gives the server's CPU time per request and the cores its processes got: a
portal that gets twice the CPU with 2 workers but serves no more requests waits on something
shared; one that gets no more CPU is starved by the machine. Beside them, the machine's busy
cores (from /proc/stat) and PostgreSQL's (its processes' CPU time): requests/s can grow from 1
worker to 2 at most by the idle cores the 1-worker run left, so `ceiling` = CPUs / busy cores
with 1 worker bounds the factor this machine can show, whatever the application does.

Needs PostgreSQL and wrk (`make wrk`). Prints readable lines, then one JSON line last."""

import json
import os
import subprocess
import sys
import time

from bench_http import (
    CONNECTIONS,
    SECONDS,
    THREADS,
    appointments,
    get_script,
    must_answer_200,
    needs_postgres,
    patients_for,
    practice_with_providers,
    serve,
    sessions,
    warm,
    wrk,
    wrk_missing,
)
from common import fresh_database, setup_django, stop_server

PRACTICES = 8
TARGET = 1.8


def world() -> list[str]:
    cookies = []
    for n in range(PRACTICES):
        practice, _staff, kinds = practice_with_providers(
            f"practice-{n}", f"Practice {n}", 2, first_npi=100 + 10 * n
        )
        patients = patients_for(practice, 40, logins=CONNECTIONS // PRACTICES)
        appointments(practice, kinds, patients, past_days=180, future_days=21)
        cookies += [sessions(p.user, 1)[0] for p in patients[: CONNECTIONS // PRACTICES]]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return cookies


def server_cpu_seconds(pid: int, *, children: bool = True) -> float:
    """User and system CPU time of the server and its worker processes so far: with the
    requests served, what each request cost and how much of the machine the workers got (on a
    busy machine, a server that gets no more CPU with 2 workers than with 1 is starved, not
    serialised; one that gets more CPU but serves no more requests waits on something)."""
    found = ""
    if children:
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:  # gone meanwhile
        pass
    return total + sum(server_cpu_seconds(int(child)) for child in found.split())


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (not idle, not waiting on I/O)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process (the server and its backends) so far."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return sum(server_cpu_seconds(int(pid), children=False) for pid in pids.split())


def measure(cookies: list[str]) -> dict:
    from django.conf import settings

    name = settings.SESSION_COOKIE_NAME
    loads = {
        "bare": (["/bench/ok"], []),
        "portal": (["/scheduling/mine/"], cookies),
    }
    figures: dict = {}
    for workers in (1, 2):
        server, port = serve(workers)
        try:
            for kind, (paths, jar) in loads.items():
                cookie = f"{name}={jar[0]}" if jar else ""
                must_answer_200(port, paths[0], cookie)
                warm(port, paths[0], cookie)
                cpu_before, began = server_cpu_seconds(server.pid), time.monotonic()
                machine_before, postgres_before = machine_busy_seconds(), postgres_cpu_seconds()
                run = wrk(port, get_script(paths, name, jar))
                cpu = server_cpu_seconds(server.pid) - cpu_before
                elapsed = time.monotonic() - began
                run["server_cpu_ms_per_request"] = round(cpu * 1000 / max(run["requests"], 1), 2)
                run["server_cores_used"] = round(cpu / elapsed, 2)
                postgres = postgres_cpu_seconds() - postgres_before
                run["postgres_cpu_ms_per_request"] = round(
                    postgres * 1000 / max(run["requests"], 1), 2
                )
                run["machine_cores_busy"] = round(
                    (machine_busy_seconds() - machine_before) / elapsed, 2
                )
                figures[f"{kind}_{workers}w"] = run
        finally:
            stop_server(server)
    for kind in loads:
        one, two = figures[f"{kind}_1w"], figures[f"{kind}_2w"]
        figures[f"{kind}_scaling"] = round(two["requests_per_s"] / one["requests_per_s"], 2)
        cpus = os.cpu_count() or 1
        figures[f"{kind}_ceiling"] = round(cpus / max(one["machine_cores_busy"], 0.01), 2)
    return figures


def main() -> None:
    if needs_postgres("bench_contention"):
        print(json.dumps({"benchmark": "contention", "skipped": "needs BENCH_DATABASE_URL"}))
        return
    if wrk_missing():
        print(json.dumps({"benchmark": "contention", "skipped": "wrk is not installed"}))
        return
    setup_django()
    drop = fresh_database()
    try:
        began = time.monotonic()
        cookies = world()
        print(f"seeded in {time.monotonic() - began:.0f} s", file=sys.stderr)
        figures = measure(cookies)
    finally:
        drop()
    print(
        f"{CONNECTIONS} portal readers of {PRACTICES} practices, {THREADS} wrk threads, "
        f"{SECONDS:g} s a run; {os.cpu_count()} CPUs shared with wrk and everything else"
    )
    for kind in ("bare", "portal"):
        for workers in (1, 2):
            f = figures[f"{kind}_{workers}w"]
            print(
                f"{kind:>6}, {workers} worker{'s' if workers > 1 else ' '}: "
                f"{f['requests_per_s']:8.1f} req/s  p50 {f['p50_ms']:7.2f} ms  "
                f"p99 {f['p99_ms']:8.2f} ms  non-2xx {f['non_2xx']}  "
                f"socket errors {f['socket_errors']}  server CPU "
                f"{f['server_cpu_ms_per_request']:6.2f} ms/request, "
                f"{f['server_cores_used']} cores; PostgreSQL "
                f"{f['postgres_cpu_ms_per_request']:5.2f} ms/request; machine busy "
                f"{f['machine_cores_busy']} cores"
            )
    portal, bare = figures["portal_scaling"], figures["bare_scaling"]
    print(
        f"scaling 1 -> 2 workers: portal x{portal} (target >= {TARGET}: "
        f"{'ok' if portal >= TARGET else 'BELOW'}), bare view x{bare} in the same run"
    )
    print(
        f"ceiling (CPUs / busy cores with 1 worker): portal x{figures['portal_ceiling']}, "
        f"bare view x{figures['bare_ceiling']}"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(
        json.dumps(
            {
                "benchmark": "contention",
                "connections": CONNECTIONS,
                "threads": THREADS,
                "seconds": SECONDS,
                "practices": PRACTICES,
                "cpus": os.cpu_count(),
                "target_scaling": TARGET,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
