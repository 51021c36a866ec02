"""What one server does over real HTTP: requests per second of the pages that matter, as
ratios to a trivial view through the same middleware, measured in the same run.

uvicorn serves `telehealth.asgi:application` with BENCH_WORKERS processes (default 2) on a
fresh, migrated PostgreSQL database (BENCH_DATABASE_URL) with Redis (BENCH_REDIS_URL), seeded
with a practice of six providers, weekday availability, a year of appointment history and
four busy weeks ahead, 600 patients, and an RPM device with its token. wrk (Debian's package:
`make wrk` as root, or `sudo apt-get install wrk`) then drives each request kind for
BENCH_SECONDS (default 10) with 32 connections on 2 threads:

- `bare`: `bench/ok`, an anonymous "ok" view behind the full middleware (served from a
  benchmark-only URLConf, bench/http_urls.py, never from the production URLs): the baseline;
- `bare_signed_in`: the same view with a staff member's session, second factor verified;
- `healthz`, the public booking page, the booking page with a visit type chosen (the slot
  grid), the public slots API for 7 days, a signed-in patient's appointments page;
- on request only (BENCH_KINDS), the appointments page's floors: `patient_ok`, a trivial view
  behind a signed-in patient's session and role check, and `patient_rows`, the page's rows
  read and audited as the page does, but not rendered (both from bench/http_urls.py);
- `rpm`: `POST /api/v1/rpm/readings`, 100 glucose readings a request, every request's
  readings at new times (so each one is stored, not deduplicated); readings/s is requests/s
  x 100 and the readings really stored are counted in the database afterwards. The requests
  rotate over BENCH_RPM_DEVICES devices (default 1), each a patient's own. One device's 32
  uploads at once cover days out of order, and an upload whose first reading falls on
  another UTC day than the kept baseline's recomputes its patient's 30-day baseline, so many
  do; many devices are a deployment.

BENCH_KINDS (comma-separated, e.g. `rpm` or `bare,rpm`) measures only those kinds, and seeds
only what they need (no appointment history without a page that shows it); ratios to `bare`
are printed only when `bare` is measured.

Signed-in kinds rotate over 32 sessions (as 32 people would), since every signed-in request
writes its session. wrk counts 4xx/5xx as errors but not redirects, so every URL is first
fetched once and must answer 200 (a redirect to sign-in would otherwise pass as fast).
A sampler counts the server's backends on the database every 50 ms (pg_stat_activity): the
most held is printed against the pool, DB_POOL_MAX_SIZE (default 10) x workers.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/telehealth_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/0 python bench/bench_http.py

Prints readable lines, then one JSON line last. bench/bench_contention.py measures how the
portal scales from one worker to two."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from common import ROOT, free_port, fresh_database, setup_django, start_server, stop_server

CONNECTIONS = 32
THREADS = 2
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
POOL_MAX = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
NY = ZoneInfo("America/New_York")
BATCH = 100  # readings per RPM request
RPM_DEVICES = int(os.environ.get("BENCH_RPM_DEVICES", "1"))
PASSWORD = "correct horse battery staple"
PAST_STATUSES = ("completed",) * 8 + ("cancelled", "no_show")

TARGETS = {  # minimum ratio to `bare`
    "bare_signed_in": 0.5,
    "healthz": 0.5,
    "book_slots": 0.25,
    "slots_api": 0.25,
    "patient_appointments": 0.3,
}
RPM_TARGET = 20_000  # readings per second
ALL_KINDS = (
    "bare",
    "bare_signed_in",
    "healthz",
    "book",
    "book_slots",
    "slots_api",
    "patient_appointments",
    "rpm",
)
# Not measured unless asked for: what the appointments page costs before its own work.
FLOOR_KINDS = ("patient_ok", "patient_rows")
KINDS = [k.strip() for k in os.environ.get("BENCH_KINDS", "").split(",") if k.strip()] or list(
    ALL_KINDS
)
PAGES = set(KINDS) - {"bare", "healthz", "rpm"}  # kinds that need the seeded schedule


def wrk_missing() -> bool:
    """Say how to install wrk when it is absent (the JSON line says the bench was skipped)."""
    if shutil.which("wrk"):
        return False
    print("wrk is not installed. Install Debian's package: `make wrk` (as root) or")
    print("`sudo apt-get install wrk`, then run this again.")
    return True


def needs_postgres(name: str) -> bool:
    if os.environ.get("BENCH_DATABASE_URL", "").startswith("postgres"):
        return False
    print(f"{name} needs PostgreSQL: set BENCH_DATABASE_URL=postgres://...")
    return True


# ---------------------------------------------------------------------------- the world


def npi(n: int) -> str:
    """A valid NPI (Luhn over the 80840 prefix), the n-th of the bench."""
    base = f"1{n:08d}"
    total = 0
    for i, ch in enumerate(reversed("80840" + base)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return base + str((10 - total % 10) % 10)


def practice_with_providers(slug: str, name: str, providers: int, first_npi: int):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from scheduling.models import AppointmentType, AvailabilityRule, Modality
    from telehealth.accounts import services as account_services
    from telehealth.accounts.models import Practice, Provider, Role

    practice = Practice.objects.create(
        name=name, slug=slug, phone="+16175550100", time_zone="America/New_York"
    )
    staff = []
    for i in range(providers):
        user = account_services.staff_user_create(
            email=f"doc{i}@{slug}.test",
            password=PASSWORD,
            full_name=f"Doc {i}",
            role=Role.CLINICIAN,
            practice=practice,
        )
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
        Provider.objects.create(
            user=user,
            practice=practice,
            slug=f"doc{i}",
            display_name=f"Dr {name} {i}",
            npi=npi(first_npi + i),
            licensed_states=["MA"],
            time_zone="America/New_York",
        )
        staff.append(user)
    providers_ = [u.provider for u in staff]
    kinds = []
    for slug_, label, minutes, modality in (
        ("video", "Video visit", 20, Modality.VIDEO),
        ("follow-up", "Follow-up", 15, Modality.VIDEO),
        ("phone", "Phone call", 30, Modality.PHONE),
    ):
        kind = AppointmentType.objects.create(
            practice=practice,
            name=label,
            slug=slug_,
            modality=modality,
            duration_minutes=minutes,
            buffer_after_minutes=10,
            minimum_notice_minutes=60,
            booking_horizon_days=60,
        )
        kind.providers.set(providers_)
        kinds.append(kind)
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=p, weekday=d, start_time=clock(8), end_time=clock(17))
        for p in providers_
        for d in range(5)
    )
    return practice, staff, kinds


def patients_for(practice, count: int, logins: int) -> list:
    from telehealth.accounts import services as account_services

    patients = []
    for n in range(count):
        patient = account_services.patient_create(
            practice=practice,
            legal_name=f"Patient {n}",
            date_of_birth=date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
            phone=f"+1617555{n % 10_000:04d}",
            email=f"p{n}@{practice.slug}.test",
            state="MA",
        )
        if n < logins:
            account_services.patient_user_create(patient=patient, password=PASSWORD)
        patients.append(patient)
    return patients


def appointments(practice, kinds, patients, *, past_days: int, future_days: int) -> int:
    """Weekdays from 8:00 every 40 minutes: every slot taken in the past (mostly completed),
    every other one in the weeks ahead (booked), so the slot grid has both."""
    from scheduling.models import Appointment

    today = datetime.now(NY).date()
    rows = []
    n = 0
    for provider in practice.providers.all():
        for offset in range(-past_days, future_days + 1):
            day = today + timedelta(days=offset)
            if day.weekday() >= 5 or offset == 0:
                continue
            for k in range(13):
                if offset > 0 and k % 2:
                    continue
                kind = kinds[n % len(kinds)]
                start = datetime.combine(day, clock(8), tzinfo=NY) + timedelta(minutes=40 * k)
                end = start + timedelta(minutes=kind.duration_minutes)
                status = PAST_STATUSES[n % len(PAST_STATUSES)] if offset < 0 else "booked"
                rows.append(
                    Appointment(
                        practice=practice,
                        provider=provider,
                        patient=patients[n % len(patients)],
                        appointment_type=kind,
                        start=start,
                        end=end,
                        blocked_start=start,
                        blocked_end=end + timedelta(minutes=kind.buffer_after_minutes),
                        modality=kind.modality,
                        status=status,
                        booked_via="online" if n % 3 else "staff",
                        patient_state="MA",
                    )
                )
                n += 1
    Appointment.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def sessions(user, count: int) -> list[str]:
    """`count` sessions of `user`, as a browser has after signing in (and, for an enrolled
    user, passing the second factor)."""
    from django.conf import settings
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from telehealth.accounts.policy import AUTHENTICATED_AT_KEY

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    cookies = []
    for _ in range(count):
        client = Client()
        client.force_login(user)
        session = client.session
        session.setdefault(AUTHENTICATED_AT_KEY, int(time.time()))
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    return cookies


def rpm_device(patient, clinician) -> str:
    from django.utils import timezone

    from rpm import services

    enrollment = services.enroll(
        patient=patient, program="diabetes", clinicians=[clinician], by=clinician
    )
    enrollment.start_date = timezone.localdate() - timedelta(days=400)
    enrollment.save(update_fields=["start_date"])
    _device, token = services.device_create(patient=patient, kind="glucometer", by=clinician)
    return token


def world() -> dict:
    from django.db import connection

    practice, staff, kinds = practice_with_providers("riverside", "Riverside Health", 6, 0)
    patients = patients_for(
        practice, max(600 if PAGES else 1, RPM_DEVICES), logins=CONNECTIONS if PAGES else 0
    )
    booked = appointments(practice, kinds, patients, past_days=365, future_days=28) if PAGES else 0
    tokens = [rpm_device(patient, staff[0]) for patient in patients[-RPM_DEVICES:]]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    today = datetime.now(NY).date().isoformat()
    return {
        "appointments": booked,
        "patients": len(patients),
        "providers": len(staff),
        "staff_cookies": sessions(staff[0], CONNECTIONS) if PAGES else [],
        "patient_cookies": [sessions(p.user, 1)[0] for p in patients[:CONNECTIONS]]
        if PAGES
        else [],
        "rpm_tokens": tokens,
        "slots_api": "/api/v1/scheduling/slots?practice=riverside&appointment_type=video"
        f"&start={today}&days=7",
    }


# ------------------------------------------------------------------------------- driving


LUA_COMMON = """
counter = 0
local n_threads = 0
function setup(thread)
  thread:set("offset", n_threads)
  n_threads = n_threads + 1
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status_errors": %d, "connect": %d, '
    .. '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(i) for i in items) + "}"


def get_script(paths: list[str], cookie_name: str, cookies: list[str]) -> str:
    return (
        LUA_COMMON
        + f"""
local paths = {lua_list(paths)}
local cookies = {lua_list(cookies)}
function request()
  counter = counter + 1
  local i = counter * {THREADS} + (offset or 0)
  local headers = {{}}
  if #cookies > 0 then
    headers["Cookie"] = "{cookie_name}=" .. cookies[i % #cookies + 1]
  end
  return wrk.format("GET", paths[i % #paths + 1], headers)
end
"""
    )


def rpm_script(tokens: list[str], first: float, step: int) -> str:
    """Every request: BATCH glucose readings from the next device of `tokens`, `step` seconds
    apart, after that device's previous ones (each device's readings go forward in time, as a
    real device's do)."""
    return (
        LUA_COMMON
        + f"""
local tokens = {lua_list(tokens)}
function request()
  counter = counter + 1
  local batch = counter * {THREADS} + (offset or 0)
  local headers = {{["Authorization"] = "Bearer " .. tokens[batch % #tokens + 1],
                   ["Content-Type"] = "application/json"}}
  local own = math.floor(batch / #tokens)  -- the device's own batch number
  local items = {{}}
  for j = 0, {BATCH - 1} do
    local at = {int(first)} + (own * {BATCH} + j) * {step}
    items[#items + 1] = string.format(
      '{{"type":"glucose","value":%d,"unit":"mg/dL","measured_at":"%s"}}',
      80 + (batch + j) % 90, os.date("!%Y-%m-%dT%H:%M:%SZ", at))
  end
  local body = '{{"readings":[' .. table.concat(items, ",") .. ']}}'
  return wrk.format("POST", "/api/v1/rpm/readings", headers, body)
end
"""
    )


def wrk(port: int, script: str, seconds: float = SECONDS) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{THREADS}",
                f"-c{CONNECTIONS}",
                f"-d{seconds:g}s",
                "--timeout",
                "30s",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}/",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(f.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_s": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "non_2xx": raw["status_errors"],
        "socket_errors": raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
    }


def fetch(port: int, path: str, *, cookie: str = "", method: str = "GET", body=None, headers=None):
    """One request, redirects not followed: (status, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {}
    )
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def must_answer_200(port: int, path: str, cookie: str = "", **kwargs) -> bytes:
    status, body = fetch(port, path, cookie=cookie, **kwargs)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}, not 200: {body[:300]!r}")
    return body


def count_backends(dsn: str, database: str, stop: threading.Event, samples: list[int]) -> None:
    from bench_connections import count_backends as sample

    sample(dsn, database, stop, samples)


class BackendSampler:
    """The server's connections on the benchmark database, sampled while it runs."""

    def __init__(self) -> None:
        from django.db import connection

        db = connection.settings_dict
        self.database = db["NAME"]
        self.dsn = (
            f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{self.database}"
        )
        self.samples: list[int] = []

    def __enter__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=count_backends, args=(self.dsn, self.database, self.stop, self.samples)
        )
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def most(self, since: int = 0) -> int:
        return max(self.samples[since:], default=0)


def release_connections() -> None:
    """The sampler counts every backend on the database: this process keeps none open."""
    from django.db import connection

    connection.close()
    connection.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's wrapper has a pool


def server_env() -> dict:
    path = os.pathsep.join(p for p in (str(ROOT / "bench"), os.environ.get("PYTHONPATH")) if p)
    return {"DJANGO_SETTINGS_MODULE": "http_settings", "PYTHONPATH": path}


def serve(workers: int):
    """uvicorn with `workers` processes, once every one of them answers: (process, port)."""
    port = free_port()
    server = start_server(port, server_env(), workers=workers)
    seen: set[bytes] = set()
    deadline = time.monotonic() + 180
    while len(seen) < workers:
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(f"only {len(seen)} of {workers} workers answered")
        try:
            status, body = fetch(port, "/bench/pid")
        except OSError:  # the other workers are still starting
            status = 0
        if status == 200:
            seen.add(body)
        else:
            time.sleep(0.1)
    return server, port


def warm(port: int, path: str, cookie: str = "") -> None:
    for _ in range(20):
        fetch(port, path, cookie=cookie)


def verdict(value: float, target: float) -> str:
    return "ok" if value >= target else "BELOW"


# ---------------------------------------------------------------------------------- main


def measure(w: dict) -> dict:
    from django.conf import settings

    from rpm.models import Reading

    cookie_name = settings.SESSION_COOKIE_NAME
    staff = w["staff_cookies"]
    patients = w["patient_cookies"]
    gets = {
        "bare": (["/bench/ok"], []),
        "bare_signed_in": (["/bench/ok"], staff),
        "healthz": (["/healthz"], []),
        "book": (["/book/riverside/"], []),
        "book_slots": (["/book/riverside/?type=video"], []),
        "slots_api": ([w["slots_api"]], []),
        "patient_appointments": (["/scheduling/mine/"], patients),
        "patient_ok": (["/bench/patient-ok"], patients),
        "patient_rows": (["/bench/patient-rows"], patients),
    }
    gets = {name: get for name, get in gets.items() if name in KINDS}
    release_connections()
    server, port = serve(WORKERS)
    figures: dict = {}
    try:
        with BackendSampler() as sampler:
            for name, (paths, cookies) in gets.items():
                cookie = f"{cookie_name}={cookies[0]}" if cookies else ""
                for path in paths:
                    must_answer_200(port, path, cookie)
                    warm(port, path, cookie)
                began = len(sampler.samples)
                figures[name] = wrk(port, get_script(paths, cookie_name, cookies))
                figures[name]["connections_max"] = sampler.most(began)
            if "rpm" in KINDS:
                rpm_run(port, w, sampler, figures)
        # Under load only: in between, this process opens connections of its own.
        most = max((f["connections_max"] for f in figures.values()), default=0)
        # wrk counts the requests answered before its deadline; the server may finish a few
        # more, so at least as many readings as were sent must be stored.
        if "rpm" in figures:
            rpm = figures["rpm"]
            rpm["readings_per_s"] = round(rpm["requests_per_s"] * BATCH)
            rpm["readings_sent"] = rpm["requests"] * BATCH
            rpm["readings_stored"] = Reading.objects.count() - rpm.pop("stored_before")
    finally:
        stop_server(server)
    base = figures["bare"]["requests_per_s"] if "bare" in figures else None
    for f in figures.values():
        f["ratio_to_bare"] = round(f["requests_per_s"] / base, 3) if base else None
    return {"kinds": figures, "pg_connections_max": most}


def rpm_run(port: int, w: dict, sampler: "BackendSampler", figures: dict) -> None:
    """The RPM kind: a first batch through urllib must be accepted whole, then wrk."""
    from django.utils import timezone

    from rpm.models import Reading

    now = timezone.now()
    headers = {
        "Authorization": f"Bearer {w['rpm_tokens'][0]}",
        "Content-Type": "application/json",
    }
    probe = json.dumps(
        {
            "readings": [
                {
                    "type": "glucose",
                    "value": 100,
                    "unit": "mg/dL",
                    "measured_at": (now - timedelta(hours=2, minutes=i)).isoformat(),
                }
                for i in range(BATCH)
            ]
        }
    ).encode()
    answer = json.loads(
        must_answer_200(port, "/api/v1/rpm/readings", method="POST", body=probe, headers=headers)
    )
    if answer["accepted"] != BATCH:
        raise RuntimeError(f"the RPM probe batch was not stored whole: {answer}")
    before = Reading.objects.count()
    release_connections()
    time.sleep(1)  # the backend just closed leaves pg_stat_activity
    span = timedelta(days=360).total_seconds()
    step = max(1, int(span / (60_000 * SECONDS)))  # room for 60,000 readings/s
    first = (now - timedelta(days=361)).timestamp()
    began = len(sampler.samples)
    figures["rpm"] = wrk(port, rpm_script(w["rpm_tokens"], first, step))
    figures["rpm"]["devices"] = len(w["rpm_tokens"])
    figures["rpm"]["connections_max"] = sampler.most(began)
    figures["rpm"]["stored_before"] = before


def report(w: dict, result: dict) -> dict:
    figures = result["kinds"]
    pool = POOL_MAX * WORKERS
    print(
        f"{WORKERS} uvicorn workers, {CONNECTIONS} connections, {THREADS} wrk threads, "
        f"{SECONDS:g} s a kind; {os.cpu_count()} CPUs shared with wrk and everything else"
    )
    print(
        f"world: {w['providers']} providers, {w['patients']} patients, "
        f"{w['appointments']} appointments"
    )
    for name, f in figures.items():
        target = TARGETS.get(name)
        ratio = f["ratio_to_bare"]
        goal = f"target >= {target}x {verdict(ratio, target)}" if target and ratio else ""
        if name == "rpm":
            goal = (
                f"{f['readings_per_s']} readings/s (target >= {RPM_TARGET} "
                f"{verdict(f['readings_per_s'], RPM_TARGET)}), "
                f"{f['readings_stored']} stored for {f['readings_sent']} sent by "
                f"{f['devices']} device(s)"
                f"{'' if f['readings_stored'] >= f['readings_sent'] else ': SOME NOT STORED'}"
            )
        print(
            f"{name:>21}: {f['requests_per_s']:8.1f} req/s  x{ratio if ratio else '-':<6} "
            f"p50 {f['p50_ms']:7.2f} ms  p99 {f['p99_ms']:8.2f} ms  "
            f"non-2xx {f['non_2xx']}  socket errors {f['socket_errors']}  {goal}"
        )
    most = result["pg_connections_max"]
    print(
        f"PostgreSQL connections held: max {most} (pool {POOL_MAX} x {WORKERS} workers = {pool}: "
        f"{'ok' if most <= pool else 'ABOVE'})"
    )
    return {
        "benchmark": "http",
        "workers": WORKERS,
        "connections": CONNECTIONS,
        "threads": THREADS,
        "seconds": SECONDS,
        "cpus": os.cpu_count(),
        "pool": pool,
        "targets": {**TARGETS, "rpm_readings_per_s": RPM_TARGET},
        **result,
    }


def main() -> None:
    unknown = sorted(set(KINDS) - {*ALL_KINDS, *FLOOR_KINDS})
    if unknown:
        known = ", ".join(ALL_KINDS + FLOOR_KINDS)
        sys.exit(f"BENCH_KINDS: no kind {', '.join(unknown)} (kinds: {known})")
    if needs_postgres("bench_http"):
        print(json.dumps({"benchmark": "http", "skipped": "needs BENCH_DATABASE_URL"}))
        return
    if wrk_missing():
        print(json.dumps({"benchmark": "http", "skipped": "wrk is not installed"}))
        return
    setup_django()
    drop = fresh_database()
    try:
        began = time.monotonic()
        w = world()
        print(f"seeded in {time.monotonic() - began:.0f} s", file=sys.stderr)
        result = measure(w)
    finally:
        drop()
    print(json.dumps(report(w, result)))


if __name__ == "__main__":
    main()
