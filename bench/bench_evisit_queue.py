"""The clinicians' e-visit queue with 10,000 open cases in the practice, against the same
page for a practice with one page's worth (50 cases), measured in the same run. The page
shows the 50 soonest due (paginated; the index on practice, state and due serves it), so it
should cost about the same: the target is within 2x, in wall time and in this process's CPU
time (the CPU figure holds up when other work shares the machine).

    python bench/bench_evisit_queue.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
      python bench/bench_evisit_queue.py

Prints readable lines, then one JSON line with the figures last."""

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
from common import fresh_database  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from telehealth.accounts.models import Role  # noqa: E402
from visits.evisit_services import conditions_install  # noqa: E402
from visits.models import EVisit, EVisitCondition  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "10000"))
RENDERS = 15


def practice_with_cases(slug: str, count: int):
    practice = worlds.practice(slug)
    clinician = worlds.staff(practice, Role.CLINICIAN)
    conditions_install(practice)
    conditions = list(EVisitCondition.objects.filter(practice=practice))
    patients = worlds.patients(practice, min(count, 200))
    now = timezone.now()
    states = [EVisit.State.SUBMITTED, EVisit.State.IN_REVIEW, EVisit.State.AWAITING_PATIENT]
    EVisit.objects.bulk_create(
        [
            EVisit(
                practice=practice,
                patient=patients[i % len(patients)],
                condition=conditions[i % len(conditions)],
                state=states[i % 3],
                assigned_to=None if i % 3 == 0 else clinician,
                submitted_at=now - timedelta(minutes=i),
                due_at=now + timedelta(minutes=(i * 7919) % (count * 3) - count),
            )
            for i in range(count)
        ],
        batch_size=1000,
    )
    return clinician


def queue(client: Client) -> tuple[float, float, int]:
    """Median wall and CPU milliseconds of the first page, and its query count."""
    walls, cpus = [], []
    for _ in range(RENDERS):
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get("/evisits/queue/")
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        assert response.status_code == 200, response.status_code
        assert response.content.count(b"<tr") == 51, "a full page of 50 rows and the header"
    with CaptureQueriesContext(connection) as queries:
        client.get("/evisits/queue/")
    return statistics.median(walls), statistics.median(cpus), len(queries)


def main() -> None:
    drop = fresh_database()
    try:
        big = worlds.signed_in(practice_with_cases("large", CASES))
        small = worlds.signed_in(practice_with_cases("small", 50))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would have, after a bulk load
        queue(big)  # warm up templates and connections
        small_wall, small_cpu, small_queries = queue(small)
        big_wall, big_cpu, big_queries = queue(big)
    finally:
        drop()
    figures = {
        "benchmark": "evisit_queue",
        "database": connection.vendor,
        "cases": CASES,
        "small_ms": round(small_wall, 1),
        "large_ms": round(big_wall, 1),
        "ratio": round(big_wall / small_wall, 2),
        "small_cpu_ms": round(small_cpu, 1),
        "large_cpu_ms": round(big_cpu, 1),
        "cpu_ratio": round(big_cpu / small_cpu, 2),
        "small_queries": small_queries,
        "large_queries": big_queries,
        "within_2x": big_wall / small_wall <= 2 and big_cpu / small_cpu <= 2,
    }
    print(
        f"e-visit queue, first page: {figures['large_ms']} ms with {CASES} open cases, "
        f"{figures['small_ms']} ms with 50 (x{figures['ratio']}); CPU "
        f"{figures['large_cpu_ms']} / {figures['small_cpu_ms']} ms (x{figures['cpu_ratio']}); "
        f"queries {big_queries} / {small_queries}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
