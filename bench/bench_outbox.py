"""Outbox dispatch throughput of one worker with the file-recording SMS backend, as messages
per second and as a ratio to the same number of bare row updates in the same run.

    python bench/bench_outbox.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
        python bench/bench_outbox.py

Prints readable lines, then one JSON line with the figures last."""

import json
import os
import tempfile
import time
from datetime import date

from common import fresh_database, setup_django

os.environ["SMS_BACKEND"] = "file"
os.environ["SMS_RECORD_PATH"] = os.path.join(tempfile.mkdtemp(), "sends.jsonl")
setup_django()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice  # noqa: E402
from telehealth.notify.dispatch import dispatch_due  # noqa: E402
from telehealth.notify.models import OutboundMessage  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "2000"))


def queue(patient, prefix: str) -> list[int]:
    now = timezone.now()
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            patient=patient,
            channel="sms",
            template="bench",
            body=f"Reminder {i}: your visit is tomorrow at 10:15.",
            dedupe_key=f"{prefix}:{i}",
            send_at=now,
        )
        for i in range(MESSAGES)
    )
    return list(
        OutboundMessage.objects.filter(dedupe_key__startswith=prefix).values_list("pk", flat=True)
    )


def main() -> None:
    drop = fresh_database()
    try:
        practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
        patient = account_services.patient_create(
            practice=practice,
            legal_name="Bench Patient",
            date_of_birth=date(1980, 1, 1),
            phone="+16175550142",
            email="p@bench.test",
            state="MA",
            sms_consent=True,
        )

        ids = queue(patient, "baseline")
        began = time.perf_counter()
        for pk in ids:  # the baseline: one bare UPDATE per row, as the dispatcher records
            OutboundMessage.objects.filter(pk=pk).update(status="sent")
        baseline = time.perf_counter() - began

        queue(patient, "dispatch")
        began = time.perf_counter()
        report = dispatch_due(max_batches=10**6)
        elapsed = time.perf_counter() - began
        assert report.sent == MESSAGES, report
        figures = {
            "benchmark": "outbox",
            "database": connection.vendor,
            "messages": MESSAGES,
            "baseline_updates_per_second": round(MESSAGES / baseline, 1),
            "dispatched_per_second": round(MESSAGES / elapsed, 1),
            "dispatch_ratio_to_bare_updates": round(elapsed / baseline, 2),
        }
    finally:
        drop()
    print(f"bare row updates     {figures['baseline_updates_per_second']:9.1f}/s")
    print(
        f"dispatch, one worker {figures['dispatched_per_second']:9.1f}/s  "
        f"x{figures['dispatch_ratio_to_bare_updates']} the time of the bare updates"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
