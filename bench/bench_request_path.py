"""What the shared request path costs, in process: each page as a ratio to a bare anonymous
"ok" view that goes through the same middleware, measured in the same run.

- `signed_in_staff` / `signed_in_patient`: the same "ok" view for a signed-in clinician (TOTP
  verified) and patient: the price of the session, user, OTP and policy middleware;
- `healthz`: /healthz (database, channel layer, broker);
- `patient_appointments`: the patient's appointments page with APPOINTMENTS upcoming and as
  many past visits.

A ratio is requests per second of the case over the baseline's (1.0 = as cheap as "ok").
Queries are counted per request. PostgreSQL and Redis, as in production:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/2 python bench/bench_request_path.py

Prints readable lines, then one JSON line last."""

import json
import os
import statistics
import sys
import time
import types
from datetime import timedelta

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

from scheduling.models import Appointment, AppointmentType, Status  # noqa: E402
from telehealth.accounts import services as account_services  # noqa: E402
from telehealth.accounts.models import Practice, Provider, Role  # noqa: E402

APPOINTMENTS = int(os.environ.get("BENCH_APPOINTMENTS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
INNER = int(os.environ.get("BENCH_INNER", "50"))


def ok(request):
    return HttpResponse("ok")


# The project's URLs plus the baseline view, as its own URLconf module.
urlconf = types.ModuleType("bench_request_path_urls")
urlconf.urlpatterns = [path("bench-ok/", ok), path("", include("telehealth.urls"))]  # type: ignore[attr-defined]
sys.modules[urlconf.__name__] = urlconf


def world():
    practice = Practice.objects.create(
        name="Bench", slug="bench", time_zone="America/New_York", phone="+16175550100"
    )
    clinician = account_services.staff_user_create(
        email="doc@bench.test",
        password="pw-bench-123456",
        full_name="Dr Bench",
        role=Role.CLINICIAN,
        practice=practice,
    )
    TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
    provider = Provider.objects.create(
        user=clinician,
        practice=practice,
        slug="doc",
        display_name="Dr Bench",
        npi="1234567893",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    patient = account_services.patient_create(
        practice=practice,
        legal_name="Pat Bench",
        date_of_birth=timezone.now().date().replace(year=1980),
        phone="+16175550123",
        email="pat@bench.test",
        state="MA",
    )
    account_services.patient_user_create(patient=patient, password="pw-bench-123456")
    kind = AppointmentType.objects.create(
        practice=practice, name="Video visit", slug="video", modality="video", duration_minutes=20
    )
    now = timezone.now()
    for n in range(APPOINTMENTS):
        for start, status in (
            (now + timedelta(days=1 + n), Status.BOOKED),
            (now - timedelta(days=1 + n), Status.COMPLETED),
        ):
            Appointment.objects.create(
                practice=practice,
                provider=provider,
                patient=patient,
                appointment_type=kind,
                start=start,
                end=start + timedelta(minutes=20),
                blocked_start=start,
                blocked_end=start + timedelta(minutes=20),
                modality="video",
                booked_via="staff",
                status=status,
                patient_state="MA",
            )
    return clinician, patient.user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def main() -> None:
    drop = fresh_database()
    try:
        with override_settings(ROOT_URLCONF=urlconf.__name__, ALLOWED_HOSTS=["testserver"]):
            run()
    finally:
        drop()


def run() -> None:
    clinician, patient_user = world()
    anonymous = Client()
    cases = {
        "ok": (anonymous, "/bench-ok/"),
        "signed_in_staff": (signed_in(clinician), "/bench-ok/"),
        "signed_in_patient": (signed_in(patient_user), "/bench-ok/"),
        "healthz": (anonymous, "/healthz"),
        "patient_appointments": (signed_in(patient_user), "/scheduling/mine/"),
    }
    queries: dict[str, int] = {}
    writes: dict[str, int] = {}
    for name, (client, url) in cases.items():
        assert client.get(url).status_code == 200, name  # warm up
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200, name
        sql = [q["sql"].lstrip().upper() for q in captured.captured_queries]
        queries[name] = len(sql)
        writes[name] = sum(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in sql)
    # Rounds interleave the cases, so a busy machine slows them all alike.
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (client, url) in cases.items():
            start = time.perf_counter()
            for _ in range(INNER):
                client.get(url)
            samples[name].append((time.perf_counter() - start) / INNER * 1e6)
    timings = {name: statistics.median(values) for name, values in samples.items()}
    base = timings["ok"]
    table = {
        name: {
            "us": round(us),
            "ratio": round(base / us, 3),
            "queries": queries[name],
            "writes": writes[name],
        }
        for name, us in timings.items()
    }
    for name, case in table.items():
        print(
            f"{name:22} {case['us']:8} us  ratio {case['ratio']:.3f}  "
            f"{case['queries']:3} queries ({case['writes']} writes)"
        )
    result = {
        "database": connection.vendor,
        "redis": bool(os.environ.get("REDIS_URL")),
        "appointments": APPOINTMENTS,
        "ok_us": round(base),
        "cases": table,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
