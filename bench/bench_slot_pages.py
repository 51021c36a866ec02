"""Public slot pages under a long appointment history, as ratios to a bare view served by the
same process (the same middleware stack, a one-line response).

    python bench/bench_slot_pages.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
        BENCH_REDIS_URL=redis://127.0.0.1:6379/3 python bench/bench_slot_pages.py

Four providers, each with HISTORY_DAYS of past visits (completed or cancelled) and the next
weeks half booked. Measured: the booking page with a visit type chosen (any provider, 7 days,
the slot grid) and the public slots API for 7 days, each cold (every request after a booking
change, so no cached slots) and warm (repeat requests, as under load). Prints readable lines,
then one JSON line with the figures last. The ratio is bare-view time / page time: 1.0 would
be a page as cheap as the bare view. The CPU ratio is the same from this process's CPU time
(not PostgreSQL's or Redis's): steadier than wall-clock time on a busy machine."""

import json
import os
import time as clock
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from common import fresh_database, median_us, setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped]  # noqa: E402
    DateTimeTZRange,
)
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

from scheduling.models import (  # noqa: E402
    ACTIVE_STATUSES,
    Appointment,
    AppointmentType,
    AvailabilityRule,
)
from scheduling.selectors import BlockedRange  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice, Provider, Role  # noqa: E402

NY = ZoneInfo("America/New_York")
HISTORY_DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "730"))
PER_DAY = 16  # visits a provider had each past day, 08:00-16:00 every 30 minutes


def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bench-bare/", bare), path("", include("telehealth.urls"))]


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
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=p, weekday=d, start_time=time(8), end_time=time(18))
        for p in providers
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
    return practice, providers, kind, patients


def history(providers, kind, patients, today: date) -> int:
    """Past visits (completed, some cancelled) and the next 14 days half booked."""
    rows = []
    total = 0
    for day_offset in range(-HISTORY_DAYS, 14):
        day = today + timedelta(days=day_offset)
        for provider in providers:
            for n in range(PER_DAY):
                if day_offset >= 0 and n % 2:
                    continue
                start = datetime.combine(day, time(8), tzinfo=NY) + timedelta(minutes=30 * n)
                past = day_offset < 0
                status = ("cancelled" if n % 7 == 0 else "completed") if past else "booked"
                rows.append(
                    Appointment(
                        practice_id=provider.practice_id,
                        provider=provider,
                        patient=patients[(n + day_offset) % 50],
                        appointment_type=kind,
                        start=start,
                        end=start + timedelta(minutes=20),
                        blocked_start=start,
                        blocked_end=start + timedelta(minutes=30),
                        modality="video",
                        booked_via="staff",
                        status=status,
                    )
                )
        if len(rows) >= 5000:
            Appointment.objects.bulk_create(rows)
            total += len(rows)
            rows = []
    Appointment.objects.bulk_create(rows)
    return total + len(rows)


def main() -> None:
    drop = fresh_database()
    try:
        with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"]):
            figures = run()
    finally:
        drop()
    for line in figures.pop("plans", []):
        print(line)
    for name in ("booking_page", "slots_api"):
        for leg in ("cold", "warm"):
            key = f"{name}_{leg}"
            print(
                f"{key:22} {figures[key + '_ms']:8.2f} ms  ratio {figures[key + '_ratio']:.3f}"
                f"  ({1000 / figures[key + '_ms']:.0f}/s)"
                f"  cpu ratio {figures[key + '_cpu_ratio']:.3f}"
            )
    print(f"{'bare view':22} {figures['bare_view_ms']:8.2f} ms")
    print(json.dumps(figures))


def busy_plans(provider, today: date) -> list[str]:
    """EXPLAIN ANALYZE of the week's busy-block search: the range overlap the exclusion
    constraint's GiST index serves, and the plain column comparisons it replaced."""
    start = datetime.combine(today, time(0), tzinfo=NY)
    end = start + timedelta(days=8)
    overlap = (
        Appointment.objects.filter(provider=provider, status__in=ACTIVE_STATUSES)
        .alias(blocked=BlockedRange())
        .filter(blocked__overlap=DateTimeTZRange(start, end, "[)"))
        .values_list("blocked_start", "blocked_end")
        .query.sql_with_params()
    )
    columns = (
        Appointment.objects.filter(
            provider=provider,
            status__in=ACTIVE_STATUSES,
            blocked_start__lt=end,
            blocked_end__gt=start,
        )
        .values_list("blocked_start", "blocked_end")
        .query.sql_with_params()
    )
    lines = []
    with connection.cursor() as cursor:
        for name, (sql, params) in (
            ("range overlap (now)", overlap),
            ("column comparisons (before)", columns),
        ):
            cursor.execute(f"EXPLAIN ANALYZE {sql}", params)
            lines.append(f"-- busy blocks, {name}:")
            lines += ["   " + row[0] for row in cursor.fetchall()]
    return lines


def run() -> dict:
    practice, providers, kind, patients = world()
    today = timezone.localtime(timezone.now(), NY).date()
    appointments = history(providers, kind, patients, today)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE scheduling_appointment")
    client = Client()
    page = f"/book/{practice.slug}/?type=video&tz=America/New_York"
    api = (
        f"/api/v1/scheduling/slots?practice={practice.slug}&appointment_type=video"
        f"&start={today + timedelta(days=1)}&days=7&time_zone=America/New_York"
    )

    def get(url):
        def fetch():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        return fetch

    def cold(url):
        fetch = get(url)

        def once():
            cache.clear()  # as after a booking change: nothing cached
            fetch()

        return once

    body = get(page)().content.decode()
    slot_links = body.count('class="slot"')
    for fn in (get("/bench-bare/"), get(page), get(api)):
        fn()  # warm imports, templates, connections
    figures: dict[str, object] = {
        "benchmark": "slot_pages",
        "database": connection.vendor,
        "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
        "appointments": appointments,
        "slot_links_on_page": slot_links,
    }
    if connection.vendor == "postgresql":
        figures["plans"] = busy_plans(providers[0], today)
    bare_us = median_us(get("/bench-bare/"), rounds=9, inner=50)
    bare_cpu = cpu_us(get("/bench-bare/"), calls=450)
    figures["bare_view_ms"] = round(bare_us / 1000, 3)
    for name, url in (("booking_page", page), ("slots_api", api)):
        for leg, fn in (("cold", cold(url)), ("warm", get(url))):
            us = median_us(fn, rounds=9, inner=3)
            figures[f"{name}_{leg}_ms"] = round(us / 1000, 2)
            figures[f"{name}_{leg}_ratio"] = round(bare_us / us, 3)
            figures[f"{name}_{leg}_cpu_ratio"] = round(bare_cpu / cpu_us(fn, calls=27), 3)
    return figures


def cpu_us(fn, *, calls: int) -> float:
    """This process's CPU time per call, in microseconds."""
    start = clock.process_time()
    for _ in range(calls):
        fn()
    return (clock.process_time() - start) / calls * 1e6


if __name__ == "__main__":
    main()
