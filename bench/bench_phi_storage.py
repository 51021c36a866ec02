"""What PHI protection costs: encrypted patient rows and hash-chained audit events, each as a
ratio to a plain row written or read in the same run.

    python bench/bench_phi_storage.py            # SQLite in a temporary directory
    BENCH_DATABASE_URL=postgres://... python bench/bench_phi_storage.py

Prints readable lines, then one JSON line with the figures last."""

import json
import os
import statistics
import time
from datetime import date

from common import fresh_database, setup_django

setup_django()

from django.db import connection, transaction  # noqa: E402

from telehealth.accounts import services  # noqa: E402
from telehealth.accounts.models import Patient, Practice  # noqa: E402
from telehealth.audit import services as audit  # noqa: E402
from telehealth.audit.models import Action  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "400"))
ROUNDS = 5


def per_op_us(fn, n: int) -> float:
    """Median over rounds of the mean time of one operation, in microseconds."""
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    drop = fresh_database()
    try:
        run()
    finally:
        drop()


def run() -> None:
    practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
    counter = iter(range(10**9))

    def plain_rows(n):
        with transaction.atomic():
            for _ in range(n):
                i = next(counter)
                Practice.objects.create(name=f"P{i}", slug=f"p{i}", phone="+16175550100")

    def encrypted_patients(n):
        with transaction.atomic():
            for _ in range(n):
                i = next(counter)
                services.patient_create(
                    practice=practice,
                    legal_name=f"Patient {i}",
                    date_of_birth=date(1980, 1, 1),
                    phone="+16175550142",
                    email=f"p{i}@example.com",
                    address={"line1": f"{i} Main St", "city": "Boston"},
                )

    def audit_events(n):
        with transaction.atomic():
            for _ in range(n):
                audit.record(action=Action.VIEW, detail="/patients/1/")

    def read_plain(n):
        list(Patient.objects.values_list("legal_name", "date_of_birth")[:n])

    def read_decrypted(n):
        list(Patient.objects.only("legal_name", "phone", "email", "address")[:n])

    write_plain = per_op_us(plain_rows, ROWS)
    write_patient = per_op_us(encrypted_patients, ROWS)
    write_audit = per_op_us(audit_events, ROWS)
    read_plain_us = per_op_us(read_plain, ROWS)
    read_decrypted_us = per_op_us(read_decrypted, ROWS)

    figures = {
        "benchmark": "phi_storage",
        "database": connection.vendor,
        "rows": ROWS,
        "plain_insert_us": round(write_plain, 1),
        "encrypted_patient_create_us": round(write_patient, 1),
        "patient_create_ratio": round(write_patient / write_plain, 2),
        "audit_record_us": round(write_audit, 1),
        "audit_record_ratio": round(write_audit / write_plain, 2),
        "plain_read_us": round(read_plain_us, 2),
        "decrypted_read_us": round(read_decrypted_us, 2),
        "decrypted_read_ratio": round(read_decrypted_us / read_plain_us, 2),
    }
    print(f"plain insert            {write_plain:8.1f} µs")
    print(
        f"patient create          {write_patient:8.1f} µs  x{figures['patient_create_ratio']}"
        "  (3 encrypted fields, 2 blind indexes, 1 audit event)"
    )
    print(f"audit event             {write_audit:8.1f} µs  x{figures['audit_record_ratio']}")
    print(f"read, plain columns     {read_plain_us:8.2f} µs/row")
    print(
        f"read, decrypting 3      {read_decrypted_us:8.2f} µs/row"
        f"  x{figures['decrypted_read_ratio']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
