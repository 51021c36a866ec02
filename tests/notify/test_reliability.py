"""No message lost, duplicates counted: 1,000 due texts, real Celery worker processes on
PostgreSQL and Redis, the worker killed with SIGKILL five times mid-run and Redis restarted
once. The file-recording SMS backend counts sends per dedupe key across processes."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone

from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.conftest import missing_service

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
MESSAGES = 1000
KILLS = 5
pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def worker_env(redis_url: str, record: Path, data_dir: Path) -> dict:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env.update(
        DJANGO_SETTINGS_MODULE="telehealth.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=redis_url,
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        SMS_BACKEND="file",
        SMS_RECORD_PATH=str(record),
        OUTBOX_LEASE_SECONDS="3",
        OUTBOX_BATCH_SIZE="25",
        DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    return env


def start_worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "telehealth",
            "worker",
            "--pool=solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            "celery",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def settled() -> int:
    return OutboundMessage.objects.filter(status="sent").count()


def test_no_message_is_lost_through_worker_kills_and_a_redis_restart(
    require_postgres, require_redis, world, tmp_path
):
    if not shutil.which("redis-server"):
        missing_service("redis-server is not installed")
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    now = timezone.now()
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            patient_id=world.patient.pk,
            channel="sms",
            template="reliability",
            body=f"Reminder {i}",
            dedupe_key=f"reliability:{i}",
            send_at=now,
        )
        for i in range(MESSAGES)
    )
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    record = tmp_path / "sends.jsonl"
    record.touch()
    redis = start_redis(port, tmp_path)
    # Not the current app: tasks queued by later tests must not go to this Redis once it is gone.
    driver = Celery("driver", broker=redis_url, set_as_current=False)
    driver.conf.broker_connection_retry_on_startup = False
    env = worker_env(redis_url, record, tmp_path)
    log = open(tmp_path / "worker.log", "ab")  # noqa: SIM115 (closed in finally)
    worker = start_worker(env, log)
    kills, redis_restarted, deadline = 0, False, time.monotonic() + 240
    last_progress = 0

    def beat() -> None:
        try:
            driver.send_task("telehealth.notify.tasks.dispatch_outbox")
        except Exception:  # Redis is down for a moment: beat tries again next tick
            driver.pool.force_close_all()  # type: ignore[attr-defined]  # kombu's, not in celery-types

    try:
        while time.monotonic() < deadline:
            beat()
            time.sleep(0.2)
            done = settled()
            if done >= MESSAGES:
                break
            # Kill only once the fresh worker has made progress, so every kill lands mid-run;
            # small steps, so that a fast worker cannot finish before every kill has happened.
            if kills < KILLS and done >= last_progress + 10:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                kills += 1
                last_progress = done
                if kills == 3 and not redis_restarted:
                    redis.kill()
                    redis.wait()
                    redis = start_redis(port, tmp_path)
                    redis_restarted = True
                worker = start_worker(env, log)
        assert kills == KILLS, f"only {kills} kills happened before the run ended"
        assert redis_restarted
        # Let any lease of a killed worker expire, then one more dispatch round.
        time.sleep(3.5)
        beat()
        end = time.monotonic() + 30
        while settled() < MESSAGES and time.monotonic() < end:
            time.sleep(0.3)
            beat()
    finally:
        worker.kill()
        worker.wait()
        redis.kill()
        redis.wait()
        driver.close()
        log.close()
        connection.close()

    statuses = Counter(OutboundMessage.objects.values_list("status", flat=True))
    sends = Counter(json.loads(line)["key"] for line in record.read_text().splitlines())
    duplicates = sum(count - 1 for count in sends.values())
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "reliability.json").write_text(
        json.dumps(
            {
                "messages": MESSAGES,
                "worker_kills": kills,
                "redis_restarts": 1,
                "distinct_sent": len(sends),
                "duplicates": duplicates,
                "statuses": statuses,
            }
        )
    )
    print(
        f"\nreliability: {len(sends)} distinct sends, {duplicates} duplicates, "
        f"{kills} kills, statuses {dict(statuses)}"
    )
    assert statuses == {"sent": MESSAGES}, "every row sent, none left in sending"
    assert len(sends) == MESSAGES, "every message reached the provider"
    # A duplicate needs a kill between the provider's acceptance and our commit: at most one
    # message per kill.
    assert duplicates <= kills
