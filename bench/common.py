"""Shared set-up for benchmarks: Django on a fresh, throw-away database.

SQLite in memory by default; BENCH_DATABASE_URL=postgres://... benchmarks PostgreSQL (a
`test_` database is created next to the named one and dropped afterwards), and
BENCH_REDIS_URL=redis://... puts the Celery broker on Redis, as in production."""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    if os.environ.get("BENCH_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="telehealth-bench-")
    os.environ["TELEHEALTH_TESTING"] = "1"  # quiet dev keys, fast hasher, tasks in-process
    os.environ["EMAIL_URL"] = "locmem://"
    os.environ["LOG_LEVEL"] = "WARNING"
    # Tasks are queued (filesystem broker), as in production, not run inside the timing.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")
    import django

    django.setup()


def fresh_database():
    """Create and migrate a throw-away database; returns a function that drops it."""
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)

    def drop() -> None:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    return drop


def median_us(fn, *, rounds: int = 7, inner: int = 1) -> float:
    """Median over rounds of the time of one call of fn, in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)
