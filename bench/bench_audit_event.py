"""What one audit event costs by the number of records it lists, in process: a page of one
record, the patient's appointments page (30 rows), and a busy staff week view (385), each
written by `audit.services.record_many` as the PHI middleware writes it (no transaction of
its own, so each event commits), as a ratio to an event about one record, in the same run.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/2 python bench/bench_audit_event.py

Prints readable lines, then one JSON line last."""

import json
import os

from common import fresh_database, median_us, setup_django

setup_django()

import bench_request_path as base  # noqa: E402
from django.utils import timezone  # noqa: E402

from scheduling.models import Appointment  # noqa: E402
from telehealth.audit import services as audit  # noqa: E402
from telehealth.audit.models import Action, AuditEvent  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
INNER = int(os.environ.get("BENCH_INNER", "30"))
SIZES = (1, 30, 385)


def run() -> dict:
    clinician, patient_user = base.world()
    patient = patient_user.patient
    # Unsaved rows with ids are enough: an event lists a record's type, id and patient.
    shown = [
        Appointment(pk=n, patient_id=patient.pk, start=timezone.now()) for n in range(max(SIZES))
    ]

    def event_of(size: int):
        return lambda: audit.record_many(
            action=Action.VIEW,
            actor=clinician,
            objects=[(appointment, patient) for appointment in shown[:size]],
            detail="/bench/",
        )

    for size in SIZES:  # warm: the chain's tail, plans, prepared statements
        for _ in range(INNER):
            event_of(size)()
    us = {size: median_us(event_of(size), rounds=ROUNDS, inner=INNER) for size in SIZES}
    assert AuditEvent.objects.filter(actor=clinician).count() == (ROUNDS + 1) * INNER * 3
    one = us[1]
    for size, took in us.items():
        per = (took - one) / (size - 1) if size > 1 else 0
        print(
            f"{size:4} records: {took:8.0f} us an event  x{took / one:5.2f} of one record"
            + (f"  ({per:.1f} us a record beyond the first)" if per else "")
        )
    return {str(size): round(took) for size, took in us.items()}


def main() -> None:
    drop = fresh_database()
    try:
        figures = run()
    finally:
        drop()
    print(json.dumps({"benchmark": "audit_event", "us_by_records": figures}))


if __name__ == "__main__":
    main()
