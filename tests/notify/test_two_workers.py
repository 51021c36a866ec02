"""Two Celery worker processes consume one queue on one Redis and one PostgreSQL database:
each due reminder is sent exactly once, and both workers take part. Each worker records its
sends in a file of its own (the file-recording SMS backend), so a reminder sent by both would
show up in both files."""

import json
import shutil
import time
from collections import Counter

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.conftest import missing_service
from tests.notify.test_reliability import (
    free_port,
    settled,
    start_redis,
    start_worker,
    worker_env,
)

MESSAGES = 300
pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_on_one_queue_send_each_reminder_once(
    require_postgres, require_redis, world, tmp_path
):
    if not shutil.which("redis-server"):
        missing_service("redis-server is not installed")
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            patient_id=world.patient.pk,
            channel="sms",
            template="reminder",
            body=f"Reminder {i}",
            dedupe_key=f"two-workers:{i}",
            send_at=timezone.now(),
        )
        for i in range(MESSAGES)
    )
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(port, tmp_path)
    driver = Celery("driver", broker=redis_url, set_as_current=False)
    records = [tmp_path / "sends-1.jsonl", tmp_path / "sends-2.jsonl"]
    logs = [open(tmp_path / f"worker-{i}.log", "ab") for i in (1, 2)]  # noqa: SIM115
    workers = []
    try:
        for record, log in zip(records, logs, strict=True):
            record.touch()
            workers.append(start_worker(worker_env(redis_url, record, tmp_path), log))
        # Both must be consuming before the first tick, or on a loaded machine the worker that
        # started first sends everything before the other is up.
        deadline = time.monotonic() + 120
        while len(driver.control.ping(timeout=1.0) or []) < 2:
            assert time.monotonic() < deadline, "both workers answer a ping"
        deadline = time.monotonic() + 180
        while settled() < MESSAGES and time.monotonic() < deadline:
            for _ in range(4):  # beat's ticks, several queued at once for both workers
                driver.send_task("telehealth.notify.tasks.dispatch_outbox")
            time.sleep(0.3)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
        redis.kill()
        redis.wait()
        driver.close()
        for log in logs:
            log.close()
        connection.close()

    per_worker = [
        Counter(json.loads(line)["key"] for line in record.read_text().splitlines())
        for record in records
    ]
    assert Counter(OutboundMessage.objects.values_list("status", flat=True)) == {"sent": MESSAGES}
    assert all(sum(sends.values()) > 0 for sends in per_worker), "both workers sent"
    assert not set(per_worker[0]) & set(per_worker[1]), "no reminder sent by both workers"
    everything = per_worker[0] + per_worker[1]
    assert len(everything) == MESSAGES
    assert set(everything.values()) == {1}, "no reminder sent twice"
