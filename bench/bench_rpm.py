"""Remote monitoring, measured against a baseline in the same run:

1. ingestion throughput: batches of 1,000 blood-pressure and glucose readings (simple JSON,
   as a device sends them) parsed, checked, stored with ON CONFLICT and run through the rules
   (thresholds, the patient's 30-day baseline, episodes), against a plain COPY of the same
   rows into rpm_reading itself, a batch per transaction (and, for comparison, into a
   temporary table, which skips the WAL and the foreign-key checks); and batches of 100, as
   devices upload over HTTP, in process and through the Django request (test client);
2. the 90-day chart of a patient with a continuous glucose monitor (a reading every 5
   minutes: about 26,000 readings), and the whole trend page around it, against the same for
   a patient with 90 readings.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench python bench/bench_rpm.py

PostgreSQL only (COPY is the baseline). Prints readable lines, then one JSON line last."""

import json
import statistics
import time
from datetime import date, timedelta

from common import setup_django

setup_django()

from common import fresh_database  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from rpm import services, uploads  # noqa: E402
from rpm.models import Reading  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice, Role  # noqa: E402

BATCHES = 20
BATCH = 1000
RENDERS = 7


def world():
    practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
    clinician = account_services.staff_user_create(
        email="doc@bench.test",
        password="x" * 16,
        full_name="Doc",
        role=Role.CLINICIAN,
        practice=practice,
    )
    TOTPDevice.objects.create(user=clinician, name="bench", confirmed=True)
    patients = []
    for n in range(3):
        patient = account_services.patient_create(
            practice=practice,
            legal_name=f"Patient {n}",
            date_of_birth=date(1960, 1, 1 + n),
            phone=f"+1617555{n:04d}",
            email=f"p{n}@bench.test",
            state="MA",
        )
        enrollment = services.enroll(
            patient=patient, program="diabetes", clinicians=[clinician], by=clinician
        )
        # Enrolled before the oldest batch, so no reading falls outside the monitoring window.
        enrollment.start_date = timezone.localdate() - timedelta(days=3 * BATCHES + 2)
        enrollment.save(update_fields=["start_date"])
        patients.append(patient)
    return clinician, patients


def batch_payload(start, n: int) -> bytes:
    """n readings as a cuff and a meter send them: blood pressure (two readings an item)
    and glucose, five minutes apart."""
    items, count, i = [], 0, 0
    while count < n:
        at = (start + timedelta(minutes=5 * i)).isoformat()
        if i % 2 == 0 and n - count >= 2:
            items.append(
                {
                    "type": "blood_pressure",
                    "systolic": 118 + i % 9,
                    "diastolic": 76 + i % 5,
                    "measured_at": at,
                }
            )
            count += 2
        else:
            items.append(
                {"type": "glucose", "value": 95 + i % 40, "unit": "mg/dL", "measured_at": at}
            )
            count += 1
        i += 1
    return json.dumps({"readings": items}).encode()


def ingest_rate(device, start) -> tuple[float, int]:
    """Readings per second through the whole service: JSON parsed, items checked, rows stored
    with ON CONFLICT, rules run, committed."""
    bodies = [batch_payload(start + timedelta(days=3 * b), BATCH) for b in range(BATCHES)]
    stored = 0
    began = time.perf_counter()
    for body in bodies:
        answer = uploads.ingest_payload(device=device, payload=json.loads(body))
        stored += answer["accepted"]
    elapsed = time.perf_counter() - began
    return stored / elapsed, stored


SMALL_BATCH = 100  # what devices send over HTTP
SMALL_BATCHES = 60


def small_batch_rates(patient, clinician, start) -> tuple[float, float]:
    """Readings per second in batches of SMALL_BATCH, through ingest_payload in this process
    (token lookup included) and through the whole Django request (middleware, API, answer) with
    the test client,
    each under a device of its own, the two interleaved batch by batch so both see the same
    history and the same machine."""
    _, direct_token = services.device_create(patient=patient, kind="bp_cuff", by=clinician)
    _, token = services.device_create(patient=patient, kind="bp_cuff", by=clinician)
    client = Client(HTTP_HOST="localhost")
    spent = {"direct": 0.0, "http": 0.0}
    for b in range(SMALL_BATCHES):
        body = batch_payload(start + timedelta(hours=6 * b), SMALL_BATCH)
        began = time.perf_counter()
        device = services.device_for_token(direct_token)
        assert device is not None
        answer = uploads.ingest_payload(device=device, payload=json.loads(body))
        spent["direct"] += time.perf_counter() - began
        assert answer["accepted"] == SMALL_BATCH, answer
        began = time.perf_counter()
        response = client.post(
            "/api/v1/rpm/readings",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        spent["http"] += time.perf_counter() - began
        assert response.status_code == 200 and response.json()["accepted"] == SMALL_BATCH
    readings = SMALL_BATCH * SMALL_BATCHES
    return readings / spent["direct"], readings / spent["http"]


COPY_COLUMNS = "(patient_id, device_id, vital, value, measured_at, received_at, identifier)"


def copy_rate(rows: list[tuple], device) -> float:
    """The same rows COPYed into rpm_reading itself under a second device of the same patient
    (so the same indexes, foreign keys and WAL), a batch of BATCH rows per transaction; the
    rows are deleted again afterwards."""
    rows = [(row[0], device.pk, *row[2:]) for row in rows]
    with connection.cursor() as cursor:
        began = time.perf_counter()
        for offset in range(0, len(rows), BATCH):
            sql = f"COPY rpm_reading {COPY_COLUMNS} FROM STDIN"
            with transaction.atomic(), cursor.cursor.copy(sql) as copy:
                for row in rows[offset : offset + BATCH]:
                    copy.write_row(row)
        elapsed = time.perf_counter() - began
        cursor.execute("DELETE FROM rpm_reading WHERE device_id = %s", [device.pk])
    return len(rows) / elapsed


def copy_temp_rate(rows: list[tuple]) -> float:
    """For comparison only: COPY into a temporary table shaped like rpm_reading (no WAL and no
    foreign keys, so nothing is durable or checked)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE copy_baseline (LIKE rpm_reading INCLUDING ALL)")
        began = time.perf_counter()
        for offset in range(0, len(rows), BATCH):
            with cursor.cursor.copy(f"COPY copy_baseline {COPY_COLUMNS} FROM STDIN") as copy:
                for row in rows[offset : offset + BATCH]:
                    copy.write_row(row)
        elapsed = time.perf_counter() - began
        cursor.execute("DROP TABLE copy_baseline")
    return len(rows) / elapsed


def cgm_history(patient, device, days: int, every_minutes: int) -> int:
    end = timezone.now()
    count = days * 24 * 60 // every_minutes
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY rpm_reading {COPY_COLUMNS} FROM STDIN") as copy:
            for i in range(count):
                at = end - timedelta(minutes=every_minutes * i)
                copy.write_row((patient.pk, device.pk, "glucose", 90 + (i * 7) % 80, at, end, ""))
        cursor.execute("ANALYZE rpm_reading")
    return count


def page_ms(client: Client, url: str) -> float:
    samples = []
    for _ in range(RENDERS):
        began = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
    return statistics.median(samples)


def chart_only_ms(patient) -> float:
    """The chart itself: the readings query with thinning, and the SVG."""
    from rpm import selectors

    limits = services.limits_for(patient)
    samples = []
    for _ in range(RENDERS):
        began = time.perf_counter()
        charts = selectors.trends(patient=patient, days=90, limits=limits)
        str(charts[0]["svg"])
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main() -> None:
    if connection.vendor != "postgresql":
        print("bench_rpm measures against PostgreSQL's COPY: set BENCH_DATABASE_URL to run it.")
        print(json.dumps({"benchmark": "rpm", "skipped": "needs PostgreSQL"}))
        return
    drop = fresh_database()
    try:
        clinician, patients = world()
        cuff, _token = services.device_create(patient=patients[0], kind="bp_cuff", by=clinician)
        start = timezone.now() - timedelta(days=3 * BATCHES + 1)
        rate, stored = ingest_rate(cuff, start)
        # After the big batches' readings (which end a day ago), so the baselines see as much.
        small_rate, small_http_rate = small_batch_rates(
            patients[0], clinician, timezone.now() - timedelta(hours=6 * SMALL_BATCHES + 1)
        )
        rows = list(
            Reading.objects.filter(device=cuff).values_list(
                "patient_id",
                "device_id",
                "vital",
                "value",
                "measured_at",
                "received_at",
                "identifier",
            )
        )
        twin, _ = services.device_create(patient=patients[0], kind="bp_cuff", by=clinician)
        baseline = copy_rate(rows, twin)
        temp_baseline = copy_temp_rate(rows)

        cgm, _ = services.device_create(patient=patients[1], kind="cgm", by=clinician)
        big = cgm_history(patients[1], cgm, days=90, every_minutes=5)
        meter, _ = services.device_create(patient=patients[2], kind="glucometer", by=clinician)
        small = cgm_history(patients[2], meter, days=90, every_minutes=24 * 60)
        client = Client(HTTP_HOST="localhost")
        client.force_login(clinician)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=clinician).persistent_id
        session.save()
        page_ms(client, f"/rpm/patients/{patients[1].pk}/?days=90")  # warm up
        chart_ms = chart_only_ms(patients[1])
        chart_small_ms = chart_only_ms(patients[2])
        big_ms = page_ms(client, f"/rpm/patients/{patients[1].pk}/?days=90")
        small_ms = page_ms(client, f"/rpm/patients/{patients[2].pk}/?days=90")
        figures = {
            "benchmark": "rpm",
            "database": connection.vendor,
            "readings_ingested": stored,
            "ingest_per_second": round(rate),
            "copy_per_second": round(baseline),
            "ingest_vs_copy": round(baseline / rate, 2),
            "ingest_batch_100_per_second": round(small_rate),
            "batch_1000_vs_100": round(rate / small_rate, 2),
            "ingest_batch_100_http_in_process_per_second": round(small_http_rate),
            "http_in_process_vs_ingest_batch_100": round(small_rate / small_http_rate, 2),
            "copy_temp_table_per_second": round(temp_baseline),
            "ingest_vs_copy_temp_table": round(temp_baseline / rate, 2),
            "chart_readings": big,
            "chart_only_90d_ms": round(chart_ms, 1),
            "chart_only_90d_small_ms": round(chart_small_ms, 1),
            "chart_90d_ms": round(big_ms, 1),
            "chart_90d_small_ms": round(small_ms, 1),
            "small_readings": small,
        }
    finally:
        drop()
    print(
        f"ingestion              {figures['ingest_per_second']:,} readings/s with rules "
        f"(COPY {figures['copy_per_second']:,}/s, x{figures['ingest_vs_copy']})"
    )
    print(
        f"                       COPY into an unlogged temp table without foreign keys "
        f"{figures['copy_temp_table_per_second']:,}/s, x{figures['ingest_vs_copy_temp_table']}"
    )
    print(
        f"batches of {SMALL_BATCH}         {figures['ingest_batch_100_per_second']:,} readings/s "
        f"in process (batches of {BATCH} x{figures['batch_1000_vs_100']} faster), "
        f"{figures['ingest_batch_100_http_in_process_per_second']:,}/s through the Django "
        f"request (x{figures['http_in_process_vs_ingest_batch_100']} slower)"
    )
    print(
        f"90-day chart           {figures['chart_only_90d_ms']} ms with {big:,} readings, "
        f"{figures['chart_only_90d_small_ms']} ms with {small} (query, thinning, SVG)"
    )
    print(
        f"90-day trend page      {figures['chart_90d_ms']} ms with {big:,} readings, "
        f"{figures['chart_90d_small_ms']} ms with {small}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
