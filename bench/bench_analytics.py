"""Practice analytics: the dashboard of a 20-provider practice with a year of data, against a
bare view in the same process (the request path alone).

A year: 20 providers with weekday hours, 8 appointments each a weekday (completed, no-shows,
cancelled; half booked online), a reminder text and an email for each, the visits of the
completed ones (waiting room, presences, some audio-only), 20 inbox threads a day with a
reply, 300 patients in remote monitoring with near-daily readings and alerts. Seeding is not
timed. Measured: the dashboard for the default 30 days and for the whole year. Target: the
default page under 300 ms.

    python bench/bench_analytics.py                                          # SQLite
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/th_bench python bench/bench_analytics.py

Prints readable lines, then one JSON line with the figures last."""

import json
import os
import random
import statistics
import sys
import time
import types
from datetime import date, datetime, timedelta
from datetime import time as clock

from common import fresh_database, setup_django

setup_django()

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from messaging.models import Message, Thread  # noqa: E402
from rpm.models import Alert, Device, Enrollment, Reading  # noqa: E402
from scheduling.models import Appointment, AppointmentType, AvailabilityRule  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Patient, Practice, Provider, Role  # noqa: E402
from telehealth.notify.models import OutboundMessage  # noqa: E402
from visits.models import Participant, Presence, Visit  # noqa: E402

PROVIDERS = 20
PER_DAY = int(os.environ.get("BENCH_PER_DAY", "8"))  # appointments per provider a weekday
PATIENTS = 1000
MONITORED = 300
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def ok(request):
    return HttpResponse("ok")


urlconf = types.ModuleType("bench_analytics_urls")
urlconf.urlpatterns = [path("bench-ok/", ok), path("", include("telehealth.urls"))]  # type: ignore[attr-defined]
sys.modules[urlconf.__name__] = urlconf


def seed(today: date):
    rng = random.Random(21)
    practice = Practice.objects.create(
        name="Bench",
        slug="bench",
        time_zone="America/New_York",
        phone="+16175550100",
        business_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    zone = practice.zone
    admin = account_services.staff_user_create(
        email="admin@bench.test",
        password="x" * 12,
        full_name="Admin",
        role=Role.PRACTICE_ADMIN,
        practice=practice,
    )
    TOTPDevice.objects.create(user=admin, name="bench", confirmed=True)
    desk = account_services.staff_user_create(
        email="desk@bench.test",
        password="x" * 12,
        full_name="Desk",
        role=Role.FRONT_DESK,
        practice=practice,
    )
    providers = []
    for n in range(PROVIDERS):
        user = account_services.staff_user_create(
            email=f"doc{n}@bench.test",
            password="x" * 12,
            full_name=f"Dr {n}",
            role=Role.CLINICIAN,
            practice=practice,
        )
        providers.append(
            Provider.objects.create(
                user=user,
                practice=practice,
                slug=f"doc{n}",
                display_name=f"Dr {n:02}",
                npi=f"{1000000000 + n}",
                licensed_states=["MA"],
                time_zone="America/New_York",
            )
        )
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=p, weekday=d, start_time=clock(9), end_time=clock(17))
        for p in providers
        for d in range(5)
    )
    kind = AppointmentType.objects.create(practice=practice, name="Video visit", slug="video")
    patients = Patient.objects.bulk_create(
        Patient(
            practice=practice,
            legal_name=f"Patient {n}",
            date_of_birth=date(1970, 1, 1),
            phone_index=f"bench-{n}",
        )
        for n in range(PATIENTS)
    )
    first = today - timedelta(days=365)
    appointments, outbound = [], []
    day = first
    while day <= today:
        if day.weekday() < 5:
            for provider in providers:
                for slot in range(PER_DAY):
                    start = datetime.combine(day, clock(9 + slot), zone)
                    roll = rng.random()
                    status = (
                        "cancelled"
                        if roll < 0.08
                        else "no_show"
                        if roll < 0.15
                        else "completed"
                        if start < timezone.now()
                        else "booked"
                    )
                    appointments.append(
                        Appointment(
                            practice=practice,
                            provider=provider,
                            patient=patients[rng.randrange(PATIENTS)],
                            appointment_type=kind,
                            start=start,
                            end=start + timedelta(minutes=30),
                            blocked_start=start,
                            blocked_end=start + timedelta(minutes=30),
                            modality="video",
                            status=status,
                            booked_via="online" if rng.random() < 0.5 else "staff",
                            created_at=start - timedelta(days=rng.randint(0, 30)),
                        )
                    )
        day += timedelta(days=1)
    appointments = Appointment.objects.bulk_create(appointments, batch_size=2000)
    for a in appointments:
        for channel in ("sms", "email"):
            outbound.append(
                OutboundMessage(
                    patient_id=a.patient_id,
                    channel=channel,
                    template="appointment.reminder",
                    body="",
                    status="delivered" if rng.random() < 0.95 else "failed",
                    last_error="",
                    send_at=a.start - timedelta(days=1),
                    created_at=a.created_at,
                    dedupe_key=f"r-{a.pk}-{channel}",
                )
            )
    OutboundMessage.objects.bulk_create(outbound, batch_size=2000)
    visits = Visit.objects.bulk_create(
        (
            Visit(
                practice=practice,
                patient_id=a.patient_id,
                provider_id=a.provider_id,
                appointment=a,
                state="ended",
                waiting_since=a.start - timedelta(minutes=8),
                started_at=a.start,
                ended_at=a.start + timedelta(minutes=18),
                audio_only=rng.random() < 0.05,
            )
            for a in appointments
            if a.status == "completed"
        ),
        batch_size=2000,
    )
    participants = Participant.objects.bulk_create(
        (Participant(visit=v, role="patient", display_name="P") for v in visits), batch_size=2000
    )
    Presence.objects.bulk_create(
        (Presence(participant=p, joined_at=timezone.now()) for p in participants), batch_size=2000
    )
    threads, messages = [], []
    day = first
    while day <= today:
        for n in range(20):
            threads.append(
                Thread(
                    practice=practice,
                    patient=patients[rng.randrange(PATIENTS)],
                    subject="Q",
                    created_at=datetime.combine(day, clock(8 + n % 12), zone),
                )
            )
        day += timedelta(days=1)
    threads = Thread.objects.bulk_create(threads, batch_size=2000)
    for t in threads:
        messages += [
            Message(thread=t, seq=1, author_kind="patient", body="Hello", created_at=t.created_at),
            Message(
                thread=t,
                seq=2,
                author_kind="staff",
                author=desk,
                body="Hi",
                created_at=t.created_at + timedelta(minutes=rng.randint(5, 600)),
            ),
        ]
    Message.objects.bulk_create(messages, batch_size=2000)
    readings, alerts = [], []
    for patient in patients[:MONITORED]:
        Enrollment.objects.create(
            patient=patient,
            program="hypertension",
            consent_at=timezone.now(),
            start_date=first,
        )
        device = Device.objects.create(
            patient=patient, kind="bp_cuff", token_hash=f"h{patient.pk}", token_hint="h"
        )
        day = first
        while day <= today:
            if rng.random() < 0.7:
                readings.append(
                    Reading(
                        patient=patient,
                        device=device,
                        vital="systolic",
                        value=125,
                        measured_at=datetime.combine(day, clock(7), zone),
                    )
                )
            day += timedelta(days=1)
        for n in range(6):
            opened = datetime.combine(first + timedelta(days=60 * n), clock(9), zone)
            alerts.append(
                Alert(
                    patient=patient,
                    rule="threshold",
                    vital="systolic",
                    episode=f"e{n}",
                    severity="critical" if n % 3 == 0 else "warning",
                    summary="High",
                    status="resolved",
                    opened_at=opened,
                    acknowledged_at=opened + timedelta(hours=2),
                )
            )
    Reading.objects.bulk_create(readings, batch_size=5000)
    Alert.objects.bulk_create(alerts, batch_size=2000)
    return admin, {
        "appointments": len(appointments),
        "messages_out": len(outbound),
        "visits": len(visits),
        "threads": len(threads),
        "readings": len(readings),
    }


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id  # type: ignore[union-attr]
    session.save()
    return client


def run() -> None:
    today = timezone.localdate()
    started = time.perf_counter()
    admin, rows = seed(today)
    # Freshly bulk-loaded tables have no planner statistics until autovacuum gets to them; a
    # year-old installation has them, so the bench gathers them before measuring.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seeded_s = time.perf_counter() - started
    print(f"seeded in {seeded_s:.0f} s: {rows}")
    client = signed_in(admin)
    year = f"?first_day={today - timedelta(days=364)}&last_day={today}"
    cases = {
        "bare": "/bench-ok/",
        "dashboard_30_days": "/practice/analytics/",
        "dashboard_year": "/practice/analytics/" + year,
    }
    queries = {}
    for name, url in cases.items():
        assert client.get(url).status_code == 200, name
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, name
        queries[name] = len(captured)
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):  # interleaved, so a busy machine slows them all alike
        for name, url in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(url)
            wall[name].append((time.perf_counter() - start) * 1000)
            cpu[name].append((time.process_time() - start_cpu) * 1000)
    if os.environ.get("BENCH_PROFILE"):  # where the page's time goes, for development
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(client.get, cases["dashboard_30_days"])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    bare = statistics.median(wall["bare"])
    result = {
        "database": connection.vendor,
        "rows": rows,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cases": {
            name: {
                "ms": round(statistics.median(wall[name]), 1),
                "cpu_ms": round(statistics.median(cpu[name]), 1),
                "ratio_to_bare": round(statistics.median(wall[name]) / bare, 1),
                "queries": queries[name],
            }
            for name in cases
        },
        "target_ms": 300,
    }
    for name, case in result["cases"].items():
        print(
            f"{name:20} {case['ms']:8.1f} ms (cpu {case['cpu_ms']:.1f} ms)  "
            f"x{case['ratio_to_bare']} of bare  {case['queries']} queries"
        )
    print(json.dumps(result))


def main() -> None:
    drop = fresh_database()
    try:
        with override_settings(ROOT_URLCONF=urlconf.__name__, ALLOWED_HOSTS=["testserver"]):
            run()
    finally:
        drop()


if __name__ == "__main__":
    main()
