"""Separate uvicorn processes serving the project against the test database and one Redis, as
a deployment with several processes or hosts runs: what one process's consumers send reaches
sockets held by another only through the Redis channel layer and PostgreSQL.

Tests that use them must be transactional (the servers see only committed rows)."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The test process's own configuration (database, Redis, keys), for another process."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env.pop("TEST_DATABASE_NAME", None)
    env.update(
        DJANGO_SETTINGS_MODULE="telehealth.settings",
        TELEHEALTH_TESTING="1",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=os.environ["REDIS_URL"],
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        # A few connections each: 8 people's tests share PostgreSQL's 100.
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="4",
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


class UvicornProcess:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "telehealth.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--ws",
                    "websockets-sansio",
                    "--lifespan",
                    "off",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def http(self) -> str:
        return f"http://localhost:{self.port}"

    url = http  # as tests.asgi_server.AsgiServer names it

    @property
    def ws(self) -> str:
        return f"ws://localhost:{self.port}"

    def wait_ready(self, deadline: float) -> None:
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"uvicorn {self.name} did not start:\n{self.log.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        stop_processes([self])


def stop_processes(servers: list[UvicornProcess]) -> None:
    """Asked to stop together, so their graceful shutdowns (up to 20 s each when sockets are
    still open) overlap instead of adding up; one that does not finish in time is killed."""
    for server in servers:
        server.process.terminate()
    deadline = time.monotonic() + 20
    for server in servers:
        try:
            server.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def start_processes(names: list[str], data_dir: Path) -> list[UvicornProcess]:
    """Started together (importing the project takes seconds on a loaded machine)."""
    env = server_env(data_dir)
    servers = [UvicornProcess(name, env, data_dir / f"uvicorn-{name}.log") for name in names]
    deadline = time.monotonic() + 120
    try:
        for server in servers:
            server.wait_ready(deadline)
    except BaseException:
        stop_processes(servers)
        raise
    return servers
