"""Shared set-up for benchmarks: Django on a fresh, throw-away database.

SQLite in memory by default; BENCH_DATABASE_URL=postgres://... benchmarks PostgreSQL (a
`test_` database is created next to the named one and dropped afterwards), and
BENCH_REDIS_URL=redis://... puts the Celery broker on Redis, as in production."""

import os
import resource
import socket
import statistics
import subprocess
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
        # The server and worker threads may still hold sessions on the throw-away database.
        from django.db import connections

        test_name = connection.settings_dict["NAME"]
        connections.close_all()
        if connection.vendor == "postgresql":
            with connection._nodb_cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [test_name],
                )
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, extra_env: dict | None = None, *, workers: int = 1) -> subprocess.Popen:
    """uvicorn serving the project on `port` (with `workers` processes), against the
    benchmark's database."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    else:
        url = f"sqlite:///{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TELEHEALTH_TESTING": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    env.pop("TEST_DATABASE_NAME", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "telehealth.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--ws",
            "websockets-sansio",
            *(["--workers", str(workers)] if workers > 1 else []),
        ],
        cwd=ROOT,
        env=env,
        preexec_fn=raise_file_limit,
    )
    # Workers listen once the project is imported: tens of seconds on a busy machine.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.05)
    stop_server(server)
    raise RuntimeError("uvicorn did not start")


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


def stop_server(server: subprocess.Popen) -> None:
    """Stop uvicorn; a server still closing thousands of sockets after 30 s is killed."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)
