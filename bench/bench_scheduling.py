"""Slot search and booking throughput, as ratios to reading one row in the same run.

    python bench/bench_scheduling.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
        python bench/bench_scheduling.py

Slot search: one provider, 30 days, 200 existing appointments. Booking: sequential bookings
through the full service (provider lock, slot check, insert, care team, audit, outbox), with
the queries and the CPU time of this process per booking: on a busy machine wall-clock time
swings with the neighbours, those two do not.
Prints readable lines, then one JSON line with the figures last."""

import json
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from common import fresh_database, median_us, setup_django

setup_django()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from scheduling import selectors, services  # noqa: E402
from scheduling.models import (  # noqa: E402
    Appointment,
    AppointmentType,
    AvailabilityRule,
    BookedVia,
)
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice, Provider, Role  # noqa: E402

NY = ZoneInfo("America/New_York")
BOOKINGS = 300


def world():
    practice = Practice.objects.create(name="Bench", slug="bench", phone="+16175550100")
    providers = []
    for i in range(4):
        user = account_services.staff_user_create(
            email=f"doc{i}@bench.test",
            password="x" * 16,
            full_name=f"Doc {i}",
            role=Role.CLINICIAN,
            practice=practice,
        )
        providers.append(
            Provider.objects.create(
                user=user,
                practice=practice,
                slug=f"doc{i}",
                display_name=f"Dr {i}",
                npi=["1234567893", "1987654328", "1456789019", "1609876549"][i],
                licensed_states=["MA"],
                time_zone="America/New_York",
            )
        )
    kind = AppointmentType.objects.create(
        practice=practice,
        name="Video",
        slug="video",
        duration_minutes=20,
        buffer_after_minutes=10,
        minimum_notice_minutes=0,
        booking_horizon_days=120,
    )
    kind.providers.set(providers)
    for provider in providers:
        AvailabilityRule.objects.bulk_create(
            AvailabilityRule(
                provider=provider,
                weekday=d,
                start_time=datetime.min.time().replace(hour=8),
                end_time=datetime.min.time().replace(hour=18),
            )
            for d in range(7)
        )
    patients = [
        account_services.patient_create(
            practice=practice,
            legal_name=f"Patient {i}",
            date_of_birth=date(1980, 1, 1),
            phone=f"+1617555{i:04d}",
            email=f"p{i}@bench.test",
            state="MA",
        )
        for i in range(50)
    ]
    return providers, kind, patients


def fill(provider, kind, patients, count, first_day):
    """`count` appointments written directly, spread over the days (the search's load)."""
    rows = []
    for i in range(count):
        day = first_day + timedelta(days=i % 30)
        start = datetime.combine(day, datetime.min.time().replace(hour=8), tzinfo=NY) + timedelta(
            minutes=30 * (i // 30)
        )
        rows.append(
            Appointment(
                practice_id=provider.practice_id,
                provider=provider,
                patient=patients[i % 50],
                appointment_type=kind,
                start=start,
                end=start + timedelta(minutes=20),
                blocked_start=start,
                blocked_end=start + timedelta(minutes=30),
                modality="video",
                booked_via="staff",
            )
        )
    Appointment.objects.bulk_create(rows)


def main() -> None:
    drop = fresh_database()
    try:
        providers, kind, patients = world()
        first_day = timezone.localtime(timezone.now(), NY).date() + timedelta(days=1)
        fill(providers[0], kind, patients, 200, first_day)
        start = datetime.combine(first_day, datetime.min.time(), tzinfo=NY)
        end = start + timedelta(days=30)

        def read_one_row():
            Provider.objects.get(pk=providers[0].pk)

        def search():
            found = selectors.open_slots(
                provider=providers[0], appointment_type=kind, start=start, end=end
            )
            assert found.starts

        baseline_us = median_us(read_one_row, inner=50)
        search_us = median_us(search, rounds=15)
        slot_count = len(
            selectors.open_slots(
                provider=providers[0], appointment_type=kind, start=start, end=end
            ).starts
        )

        # Sequential bookings on the three other providers' open slots.
        free = [
            (p, s)
            for p in providers[1:]
            for s in selectors.open_slots(
                provider=p, appointment_type=kind, start=start, end=end
            ).starts[::3]
        ][:BOOKINGS]
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        began, began_cpu = time.perf_counter(), time.process_time()
        with connection.execute_wrapper(count):
            for i, (provider, slot) in enumerate(free):
                services.appointment_book(
                    provider=provider,
                    patient=patients[i % 50],
                    appointment_type=kind,
                    start=slot,
                    by=None,
                    via=BookedVia.STAFF,
                )
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
        per_booking_us = elapsed / len(free) * 1e6
        figures = {
            "benchmark": "scheduling",
            "database": connection.vendor,
            "baseline_read_one_row_us": round(baseline_us, 1),
            "slot_search_30d_200appts_ms": round(search_us / 1000, 2),
            "slot_search_ratio": round(search_us / baseline_us, 1),
            "open_slots_found": slot_count,
            "bookings": len(free),
            "booking_us": round(per_booking_us, 1),
            "bookings_per_second": round(len(free) / elapsed, 1),
            "booking_ratio": round(per_booking_us / baseline_us, 1),
            "booking_queries": round(queries / len(free), 2),
            "booking_cpu_us": round(cpu / len(free) * 1e6, 1),
        }
    finally:
        drop()
    print(f"read one row (baseline)   {figures['baseline_read_one_row_us']:9.1f} µs")
    print(
        f"slot search, 30 days      {figures['slot_search_30d_200appts_ms']:9.2f} ms  "
        f"x{figures['slot_search_ratio']}  ({slot_count} open slots, 200 booked)"
    )
    print(
        f"booking, sequential       {figures['booking_us']:9.1f} µs  "
        f"x{figures['booking_ratio']}  ({figures['bookings_per_second']}/s)"
    )
    print(
        f"  per booking             {figures['booking_queries']:9.2f} queries, "
        f"{figures['booking_cpu_us']:.0f} µs of this process's CPU"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
