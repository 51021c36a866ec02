"""The FHIR API, measured against the plain ORM query of the same rows in the same run:

1. Observation search for one patient with 90 days of home vitals (morning and evening blood
   pressure and pulse, a daily weight: 5 Observations from 7 readings a day), every page
   walked through the `next` links at the largest `_count` (200), through the test client
   with sign-in, middleware and the audit of each page, against listing the same readings
   with the ORM (and, second baseline, the ORM rows turned into JSON dicts by hand). Target:
   within 3x of the ORM;
2. `$export` of a practice of 10,000 patients, each with a blood pressure, a pulse and a
   weight (3 Observations from 4 readings): the job exactly as the Celery worker runs it
   (`bulk.export_run`, every resource mapped, NDJSON encrypted in chunks, the export and
   each patient audited), kicked off and its manifest read through the test client, against
   the ORM walking the same rows. Target: under a minute. The files are then downloaded
   (decrypted and streamed) and every line counted.

The fixture rows are bulk-created and not timed.

    python bench/bench_fhir.py                                          # SQLite
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/th_bench python bench/bench_fhir.py

Prints readable lines, then one JSON line with the figures last."""

import json
import os
import secrets
import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from common import median_us, setup_django

setup_django()

import worlds  # noqa: E402
from common import fresh_database  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from rpm.models import Device, Reading  # noqa: E402
from telehealth.accounts.models import Patient, Role  # noqa: E402
from telehealth.fhir import bulk  # noqa: E402
from telehealth.fhir.models import BulkExport  # noqa: E402

SEARCH_DAYS = 90
EXPORT_PATIENTS = 10_000
BATCH = 2_000
ASYNC = {"Accept": "application/fhir+json", "Prefer": "respond-async"}


def practice_and_admin():
    practice = worlds.practice("bench", time_zone="America/New_York")
    return practice, worlds.staff(practice, Role.PRACTICE_ADMIN)


def make_patients(practice, count: int, *, prefix: str) -> list[Patient]:
    made: list[Patient] = []
    for start in range(0, count, BATCH):
        rows = []
        for n in range(start, min(count, start + BATCH)):
            patient = Patient(
                practice=practice,
                legal_name=f"{prefix} Patient{n}",
                date_of_birth=date(1940 + n % 60, 1 + n % 12, 1 + n % 28),
                sex=("female", "male", "other")[n % 3],
                state="MA",
                address={"line1": f"{n} Main St", "city": "Boston", "postal_code": "02110"},
            )
            patient.set_contact(
                phone=f"+1617{5550000 + n % 10000:07d}", email=f"{prefix}{n}@b.test"
            )
            rows.append(patient)
        made += Patient.objects.bulk_create(rows)
    return made


def make_devices(patients: list[Patient], kind: str) -> dict[int, Device]:
    devices: dict[int, Device] = {}
    for start in range(0, len(patients), BATCH):
        rows = [
            Device(
                patient=p,
                kind=kind,
                serial=f"SN-{p.pk}",
                token_hash=secrets.token_hex(32),
                token_hint="rpm_xxxx",
            )
            for p in patients[start : start + BATCH]
        ]
        devices |= {d.patient_id: d for d in Device.objects.bulk_create(rows)}
    return devices


def add_readings(rows: list[Reading]) -> None:
    for start in range(0, len(rows), BATCH):
        Reading.objects.bulk_create(rows[start : start + BATCH])


def vitals_day(patient, cuff, scale, at) -> list[Reading]:
    """A blood pressure pair and a pulse from the cuff, a weight from the scale."""
    return [
        Reading(patient=patient, device=cuff, vital="systolic", value=118, measured_at=at),
        Reading(patient=patient, device=cuff, vital="diastolic", value=76, measured_at=at),
        Reading(patient=patient, device=cuff, vital="heart_rate", value=64, measured_at=at),
        Reading(patient=patient, device=scale, vital="weight", value=81.5, measured_at=at),
    ]


# 1. Search


def search_fixture(practice) -> tuple[Patient, int]:
    (patient,) = make_patients(practice, 1, prefix="Search")
    cuff = make_devices([patient], "bp_cuff")[patient.pk]
    scale = make_devices([patient], "scale")[patient.pk]
    now = timezone.now().replace(second=0, microsecond=0)
    rows: list[Reading] = []
    for day in range(SEARCH_DAYS):
        morning = now - timedelta(days=day, hours=12)
        evening = now - timedelta(days=day)
        rows += vitals_day(patient, cuff, scale, morning)
        rows += [r for r in vitals_day(patient, cuff, scale, evening) if r.vital != "weight"]
    add_readings(rows)
    return patient, len(rows)


def walk_search(client: Client, patient: Patient) -> int:
    url = f"/fhir/R4/Observation?patient=Patient/{patient.pk}&_count=200"
    found = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content[:300]
        bundle = response.json()
        found += len(bundle.get("entry", []))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), "")
    return found


def cpu_seconds(fn, rounds: int = 5) -> float:
    samples = []
    for _ in range(rounds):
        began = time.process_time()
        fn()
        samples.append(time.process_time() - began)
    return statistics.median(samples)


def orm_rows(patient: Patient) -> int:
    rows = Reading.objects.filter(patient=patient).select_related("device").order_by("pk")
    return len(list(rows))


def orm_dicts(patient: Patient) -> int:
    """The same rows as JSON-ready dicts with json.dumps: the API's work without FHIR."""
    rows = Reading.objects.filter(patient=patient).select_related("device").order_by("pk")
    body = [
        {
            "id": str(r.pk),
            "code": r.vital,
            "subject": f"Patient/{r.patient_id}",
            "effectiveDateTime": r.measured_at.isoformat(),
            "value": r.value,
            "device": str(r.device),
        }
        for r in rows
    ]
    return len(json.dumps(body))


# 2. Export


def export_fixture(practice) -> tuple[int, int]:
    patients = make_patients(practice, EXPORT_PATIENTS, prefix="Export")
    cuffs = make_devices(patients, "bp_cuff")
    scales = make_devices(patients, "scale")
    at = timezone.now().replace(microsecond=0) - timedelta(days=1)
    rows: list[Reading] = []
    for patient in patients:
        rows += vitals_day(patient, cuffs[patient.pk], scales[patient.pk], at)
        if len(rows) >= BATCH:
            add_readings(rows)
            rows = []
    add_readings(rows)
    if connection.vendor == "postgresql":
        # As autovacuum would have by the time a practice has this many rows: without
        # statistics the planner picks nested loops for the cursors' fetches.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return len(patients), Reading.objects.filter(patient__in=patients).count()


def orm_export_walk(practice) -> int:
    """The plain ORM query of the same rows, streamed the same way (pk order, chunks)."""
    seen = 0
    patients = Patient.objects.filter(practice=practice).select_related("practice")
    for _patient in patients.order_by("pk").iterator(chunk_size=BATCH):
        seen += 1
    readings = Reading.objects.filter(patient__practice=practice).select_related(
        "device", "patient"
    )
    for _reading in readings.order_by("pk").iterator(chunk_size=BATCH):
        seen += 1
    return seen


def timed_export(client: Client) -> tuple[float, float, dict, BulkExport]:
    kickoff = client.get("/fhir/R4/Patient/$export", headers=ASYNC)
    assert kickoff.status_code == 202, kickoff.content
    export = BulkExport.objects.get(status=BulkExport.Status.QUEUED)
    began, began_cpu = time.perf_counter(), time.process_time()
    bulk.export_run(export_id=str(export.pk))  # what the worker runs
    elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    status = client.get(kickoff["Content-Location"])
    assert status.status_code == 200, status.content
    return elapsed, cpu, status.json(), export


def download_all(client: Client, manifest: dict) -> tuple[float, int]:
    began = time.perf_counter()
    lines = 0
    for output in manifest["output"]:
        response = client.get(output["url"])
        assert response.status_code == 200
        counted = response.getvalue().count(b"\n")  # decrypted as it streams
        assert counted == output["count"], (output, counted)
        lines += counted
    return time.perf_counter() - began, lines


def main() -> None:
    media = Path(tempfile.mkdtemp(prefix="telehealth-bench-media-"))
    settings.MEDIA_ROOT = media
    drop = fresh_database()
    try:
        practice, admin = practice_and_admin()
        client = worlds.signed_in(admin)

        patient, search_readings = search_fixture(practice)
        found = walk_search(client, patient)  # warm up
        api_us = median_us(lambda: walk_search(client, patient), rounds=5)
        orm_us = median_us(lambda: orm_rows(patient), rounds=5)
        dicts_us = median_us(lambda: orm_dicts(patient), rounds=5)

        patients, readings = export_fixture(practice)
        orm_export_s = median_us(lambda: orm_export_walk(practice), rounds=3) / 1e6
        export_s, export_cpu_s, manifest, export = timed_export(client)
        download_s, lines = download_all(client, manifest)
        counts = {o["type"]: o["count"] for o in manifest["output"]}
        search_cpu_s = cpu_seconds(lambda: walk_search(client, patient))
        orm_cpu_s = cpu_seconds(lambda: orm_rows(patient))
        stored = sum(f.stat().st_size for f in (media / "fhir-bulk" / str(export.pk)).iterdir())
        figures = {
            "benchmark": "fhir",
            "database": connection.vendor,
            "search_readings": search_readings,
            "search_observations": found,
            "search_api_ms": round(api_us / 1000, 1),
            "search_orm_ms": round(orm_us / 1000, 1),
            "search_vs_orm": round(api_us / orm_us, 1),
            "search_api_cpu_ms": round(search_cpu_s * 1000, 1),
            "search_orm_cpu_ms": round(orm_cpu_s * 1000, 1),
            "search_orm_json_ms": round(dicts_us / 1000, 1),
            "search_vs_orm_json": round(api_us / dicts_us, 1),
            "export_patients": patients,
            "export_readings": readings,
            "export_resources": counts,
            "export_s": round(export_s, 1),
            # This process's CPU: the job's own cost, whatever else shares the machine.
            "export_cpu_s": round(export_cpu_s, 1),
            "export_orm_s": round(orm_export_s, 2),
            "export_vs_orm": round(export_s / orm_export_s, 1),
            "export_resources_per_s": round(sum(counts.values()) / export_s),
            "export_stored_mb": round(stored / 1e6, 1),
            "download_s": round(download_s, 1),
            "download_lines": lines,
            "load_average": round(os.getloadavg()[0], 1),
        }
    finally:
        drop()
        shutil.rmtree(media, ignore_errors=True)

    print(f"{'':34}{'API':>10}{'ORM':>10}{'ratio':>8}  target")
    print(
        f"{'search, 90 days, all pages':34}{figures['search_api_ms']:>8} ms"
        f"{figures['search_orm_ms']:>8} ms{figures['search_vs_orm']:>7}x  3x"
    )
    print(
        f"{'  vs ORM rows as JSON dicts':34}{'':>10}{figures['search_orm_json_ms']:>8} ms"
        f"{figures['search_vs_orm_json']:>7}x"
    )
    print(
        f"{'  CPU of this process':34}{figures['search_api_cpu_ms']:>8} ms"
        f"{figures['search_orm_cpu_ms']:>8} ms"
        f"{figures['search_api_cpu_ms'] / max(figures['search_orm_cpu_ms'], 0.1):>7.1f}x"
    )
    print(
        f"{'$export, 10,000 patients':34}{figures['export_s']:>9} s{figures['export_orm_s']:>9} s"
        f"{figures['export_vs_orm']:>7}x  < 60 s"
    )
    print(f"{'  $export CPU of this process':34}{figures['export_cpu_s']:>9} s")
    print(f"load average {figures['load_average']} on {os.cpu_count()} cores")
    print(
        f"search: {found} Observations from {search_readings} readings; export: "
        f"{counts} from {readings:,} readings, {figures['export_resources_per_s']:,} resources/s, "
        f"{figures['export_stored_mb']} MB encrypted; download and count {lines:,} lines "
        f"{figures['download_s']} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
