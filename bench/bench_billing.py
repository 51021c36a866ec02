"""Billing, measured against baselines in the same run:

1. a month of a 20-provider practice: 8,000 ended visits (video, audio-only and in person; new
   and established patients; the patient's location answered or only booked; presences and
   notes as the visits app records them) and 2,000 monitored patients (enrolments, devices,
   readings, time logs), turned into encounters by billing's real pull
   (`pull_completed_visits` and `pull_monitoring`), against inserting the same encounter and
   line rows bare (bulk_create). The seeding is not timed. Target: the month in under a minute;
2. X12: an 837P batch of 1,000 claims (two lines each, 20 billing providers, one in four
   patients a dependent) generated, then validated by pyx12; a 1,000-claim 835 for it
   generated and read back (reading validates it first). Generation should stay well under a
   tenth of the validation it is always followed by.

    python bench/bench_billing.py                                          # SQLite
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/th_bench python bench/bench_billing.py

One database connection. Prints readable lines, then one JSON line with the figures last."""

import datetime as dt
import json
import time
from decimal import Decimal

from common import median_us, setup_django

setup_django()

from django.db import connection, transaction  # noqa: E402

from billing import services  # noqa: E402
from billing.models import (  # noqa: E402
    BillingProfile,
    ClaimLine,
    Encounter,
    FeeScheduleEntry,
)
from billing.models import Payer as PayerRow  # noqa: E402
from billing.x12 import (  # noqa: E402
    Address,
    Adjustment,
    BillingProvider,
    Claim,
    ClaimBatch,
    ClaimPayment,
    LinePayment,
    Patient,
    Payee,
    Payer,
    Receiver,
    RenderingProvider,
    ServiceLine,
    Submitter,
    Subscriber,
    claim_batch_837p,
    parse_835,
    remittance_835,
    validate,
)

CLAIMS = 1_000
PROVIDERS = 20
NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 16)


def npi(seed: int) -> str:
    """A ten-digit NPI with a valid Luhn check digit (prefix 80840, as the NPI rule says)."""
    body = f"1{seed:08d}"
    digits = [int(d) for d in "80840" + body]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def batch() -> ClaimBatch:
    address = Address("100 CONGRESS AVE", "AUSTIN", "TX", "787010001")
    providers = [
        BillingProvider(f"CLINIC {n}", npi(n), f"{100000000 + n}", address)
        for n in range(PROVIDERS)
    ]
    claims = []
    for n in range(CLAIMS):
        subscriber = Subscriber(
            "LONE STAR HEALTH PLAN", "LSHP1", f"W{n:09d}", f"PATIENT{n}", "ALEX",
            dt.date(1970 + n % 40, 1 + n % 12, 1 + n % 28), "F" if n % 2 else "M", address,
        )  # fmt: skip
        dependent = Patient("CHILD", "SAM", dt.date(2015, 1, 1), "U", address, "19")
        lines = (
            ServiceLine("99214", Decimal("165.00"), DAY, (1, 2), modifiers=("95",)),
            ServiceLine("99457", Decimal("52.00"), DAY, (1,)),
        )
        claims.append(
            Claim(
                claim_id=f"ENC{n:08d}",
                billing_provider=providers[n % PROVIDERS],
                subscriber=subscriber,
                diagnosis_codes=("E11.9", "I10", "E78.5"),
                lines=lines,
                place_of_service="10",
                rendering_provider=RenderingProvider("RIVERA", "ANA", npi(10_000 + n % 60)),
                patient=dependent if n % 4 == 0 else None,
            )
        )
    submitter = Submitter("NORTHSIDE TELEHEALTH", "NTH001", "BILLING OFFICE", "5125550100")
    return ClaimBatch(submitter, Receiver("AUSTIN CLEARINGHOUSE", "ACH01"), tuple(claims))


def remittance(claims: tuple[Claim, ...]) -> str:
    paid = LinePayment(Decimal("110.00"), (Adjustment("CO", "45", Decimal("55.00")),))
    denied = LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),), ("N130",))
    return remittance_835(
        payer=Payer(
            "LONE STAR HEALTH PLAN",
            "1999999999",
            Address("PO BOX 9", "DALLAS", "TX", "75201"),
            "8005550199",
        ),
        payee=Payee("NORTHSIDE TELEHEALTH", claims[0].billing_provider.npi),
        payments=tuple(ClaimPayment(c, f"PCN{i}", (paid, denied)) for i, c in enumerate(claims)),
        check_number="EFT1",
        payment_date=DAY,
        control_number=2,
        now=NOW,
        sender_id="LSHP1",
        receiver_id="NTH001",
    )


# --- A month of a practice ------------------------------------------------------------------

VISITS = 8_000
MONITORED = 2_000
VISIT_PATIENTS = 6_000  # the first 2,000 come twice in the month
MONTH = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
PULLED_AT = dt.datetime(2026, 12, 4, 17, 0, tzinfo=dt.UTC)
FEES = {
    **{code: "110.00" for code in ("99202", "99212", "98000", "98004", "98008", "98012")},
    **{code: "160.00" for code in ("99203", "99213", "98001", "98005", "98009", "98013")},
    **{code: "230.00" for code in ("99204", "99214", "98002", "98006", "98010", "98014")},
    **{code: "300.00" for code in ("99205", "99215", "98003", "98007", "98011", "98015")},
    "99417": "60.00",
    "G2212": "60.00",
    "99453": "19.00",
    "99454": "50.00",
    "99445": "40.00",
    "99457": "48.00",
    "99458": "39.00",
    "99470": "25.00",
}
# Payer names as the patients wrote them on their cards (case differs from the set-up rows),
# one insurer the practice has not set up, and one patient in twelve without a card.
PAYERS = (
    ("Medicare", "MEDICARE", "medicare", "", ""),
    ("MassHealth", "MASSHEALTH", "medicaid", "MA", ""),
    ("Acme Health", "ACME1", "commercial", "", ""),
    ("Northstar Telecare", "NSTAR", "commercial", "", "commercial-telemedicine-codes"),
)
CARD_NAMES = ("medicare", "MassHealth", "ACME HEALTH", "Northstar Telecare", "Blue Sky Mutual")


def seed_month(rng) -> dict:
    """The practice and its month, inserted in bulk (not timed). Returns counts."""
    from intake.models import InsuranceCard
    from rpm.models import Device, Enrollment, Reading, TimeLog
    from scheduling.models import Appointment, AppointmentType
    from telehealth.accounts import services as account_services
    from telehealth.accounts.models import Patient, Practice, Provider, Role
    from visits.models import Participant, Presence, Visit, VisitNote

    zone = dt.timezone(dt.timedelta(hours=-5))  # Boston in November (EST)
    practice = Practice.objects.create(
        name="Bench Health", slug="bench-health", phone="+16175550100"
    )
    BillingProfile.objects.create(
        practice=practice,
        billing_name="Bench Health PC",
        group_npi=npi(900),
        ein="123456789",
        taxonomy="207Q00000X",
        address_line="1 Main St",
        city="Boston",
        state="MA",
        zip_code="021101234",
        submitter_id="BENCH01",
        submitter_contact="Billing Desk",
        submitter_phone="6175550100",
        receiver_name="Clearing House",
        receiver_id="CLEAR01",
    )
    PayerRow.objects.bulk_create(
        PayerRow(
            practice=practice,
            name=name,
            payer_id=payer_id,
            profile_kind=kind,
            profile_state=state,
            profile_variant=variant,
        )
        for name, payer_id, kind, state, variant in PAYERS
    )
    FeeScheduleEntry.objects.bulk_create(
        [
            FeeScheduleEntry(
                practice=practice,
                code=code,
                charge=Decimal(fee),
                effective_from=dt.date(2025, 1, 1),
            )
            for code, fee in FEES.items()
        ]
        + [  # this year's raise, in force from 1 November
            FeeScheduleEntry(
                practice=practice,
                code=code,
                charge=Decimal(fee) + 5,
                effective_from=dt.date(2026, 11, 1),
            )
            for code, fee in FEES.items()
            if code.startswith("992")
        ]
    )
    providers = []
    for n in range(PROVIDERS):
        user = account_services.staff_user_create(
            email=f"doc{n}@bench.test",
            password="x" * 16,
            full_name=f"Doctor {n}",
            role=Role.CLINICIAN,
            practice=practice,
        )
        # Every clinician is licensed in Massachusetts; one in four not in New Hampshire too.
        states = ["MA", "RI"] + ([] if n % 4 == 0 else ["NH"])
        providers.append(
            Provider.objects.create(
                user=user,
                practice=practice,
                slug=f"doc-{n}",
                display_name=f"Dr. Doctor {n}, MD",
                specialty="Internal medicine" if n % 5 == 0 else "Family medicine",
                npi=npi(1_000 + n),
                licensed_states=states,
                time_zone="America/New_York",
            )
        )
    kinds = {
        modality: AppointmentType.objects.create(
            practice=practice, name=modality, slug=modality, modality=modality
        )
        for modality in ("video", "phone", "in_person")
    }
    patients = Patient.objects.bulk_create(
        Patient(
            practice=practice,
            legal_name=f"Patient {n}",
            date_of_birth=dt.date(1940 + n % 60, 1 + n % 12, 1 + n % 28),
            state="MA",
        )
        for n in range(VISIT_PATIENTS)
    )
    cards = []
    for n, patient in enumerate(patients):
        if n % 12 == 11:
            continue
        name = CARD_NAMES[4] if n % 50 == 7 else CARD_NAMES[n % 4]
        cards.append(
            InsuranceCard(
                patient=patient,
                payer=name,
                member_id=f"M{n:08d}",
                subscriber_name=patient.legal_name,
                front="insurance/front.png",
                front_type="image/png",
            )
        )
    InsuranceCard.objects.bulk_create(cards, batch_size=1000)

    # The visits: a patient's earlier visit in December 2024 (before billing started, inside
    # the three years that make them established) for one patient in two, then the month's.
    plan = []
    for n in range(VISIT_PATIENTS // 2):
        plan.append((patients[n * 2 + 1], dt.datetime(2024, 12, 2, 14, tzinfo=dt.UTC)))
    month_start = dt.datetime.combine(MONTH[0], dt.time(8), zone)
    for k in range(VISITS):
        patient = patients[k % VISIT_PATIENTS]
        # Each provider sees 400 visits in the month, one every 100 minutes around the clock.
        slot = k // PROVIDERS
        plan.append((patient, month_start + dt.timedelta(minutes=100 * slot)))
    appointments, visits = [], []
    times = []  # (provider, waiting since, started, ended) of each visit
    for k, (patient, start) in enumerate(plan):
        provider = providers[k % PROVIDERS]
        roll = rng.random()
        modality = "in_person" if roll < 0.15 else "phone" if roll < 0.30 else "video"
        state = "MA" if rng.random() < 0.85 else rng.choice(("NH", "RI", "CT"))
        minutes = rng.choice((5, 12, 16, 19, 20, 25, 29, 30, 35, 39, 40, 45, 54, 55, 61, 75))
        end = start + dt.timedelta(minutes=20)
        appointments.append(
            Appointment(
                practice=practice,
                provider=provider,
                patient=patient,
                appointment_type=kinds[modality],
                start=start,
                end=end,
                blocked_start=start,
                blocked_end=end,
                modality=modality,
                status="completed",
                booked_via="staff",
                patient_state="" if modality == "in_person" else state,
            )
        )
        answered = modality != "in_person" and rng.random() < 0.85
        started = start + dt.timedelta(minutes=rng.randint(0, 6))
        ended = started + dt.timedelta(minutes=minutes)
        times.append((provider, started - dt.timedelta(minutes=5), started, ended))
        visits.append(
            Visit(
                practice=practice,
                patient=patient,
                provider=provider,
                state=Visit.State.ENDED,
                audio_only=modality == "phone" or (modality == "video" and rng.random() < 0.08),
                patient_video=modality == "video",
                patient_state=state if answered else "",
                patient_at_home=(rng.random() < 0.8) if answered else None,
                location_confirmed_at=started - dt.timedelta(minutes=2) if answered else None,
                waiting_since=times[-1][1],
                admitted_by=provider.user,
                started_at=started,
                ended_at=ended,
                created_at=start - dt.timedelta(days=3),
            )
        )
    Appointment.objects.bulk_create(appointments, batch_size=1000)
    for appointment, visit in zip(appointments, visits, strict=True):
        visit.appointment = appointment
    Visit.objects.bulk_create(visits, batch_size=1000)
    participants: list[Participant] = []
    presences: list[Presence] = []
    notes: list[VisitNote] = []
    for visit, (provider, _waiting, started, _ended) in zip(visits, times, strict=True):
        participants += [
            Participant(
                visit=visit,
                role=Participant.Role.CLINICIAN,
                user=provider.user,
                display_name=provider.display_name,
                admitted_at=started,
            ),
            Participant(
                visit=visit,
                role=Participant.Role.PATIENT,
                display_name=visit.patient.legal_name,
                admitted_at=started,
            ),
        ]
    Participant.objects.bulk_create(participants, batch_size=2000)
    for index, (visit, (provider, waiting, started, ended)) in enumerate(
        zip(visits, times, strict=True)
    ):
        clinician, sitter = participants[2 * index], participants[2 * index + 1]
        if rng.random() < 0.1:  # a dropped connection: two stretches, overlapping a minute
            middle = started + (ended - started) / 2
            presences += [
                Presence(participant=clinician, joined_at=started, left_at=middle),
                Presence(
                    participant=clinician, joined_at=middle - dt.timedelta(minutes=1), left_at=ended
                ),
            ]
        else:
            presences.append(Presence(participant=clinician, joined_at=started, left_at=ended))
        presences.append(Presence(participant=sitter, joined_at=waiting, left_at=ended))
        signed = rng.random() < 0.7
        notes.append(
            VisitNote(
                visit=visit,
                author=provider.user,
                soap={"subjective": "Follow-up.", "assessment": "Stable.", "plan": "Continue."},
                signed_at=ended + dt.timedelta(hours=2) if signed else None,
                signed_by=provider.user if signed else None,
            )
        )
    Presence.objects.bulk_create(presences, batch_size=2000)
    VisitNote.objects.bulk_create(notes, batch_size=1000)

    # Monitoring: the first 2,000 patients, enrolled on 1 November by one or two clinicians.
    monitored = patients[:MONITORED]
    enrolments = Enrollment.objects.bulk_create(
        Enrollment(
            patient=patient,
            program="hypertension" if n % 3 else "diabetes",
            start_date=MONTH[0],
            consent_at=month_start - dt.timedelta(days=1),
        )
        for n, patient in enumerate(monitored)
    )
    through = Enrollment.clinicians.through
    through.objects.bulk_create(
        through(enrollment_id=enrolment.pk, user_id=providers[n % PROVIDERS].user_id)
        for n, enrolment in enumerate(enrolments)
    )
    devices, readings, logs = [], [], []
    for n, patient in enumerate(monitored):
        kinds_of = ["bp_cuff"] + (["glucometer"] if n % 10 < 3 else [])
        for j, kind in enumerate(kinds_of):
            devices.append(
                Device(patient=patient, kind=kind, token_hash=f"{n:08d}-{j}".ljust(64, "0"))
            )
    Device.objects.bulk_create(devices, batch_size=2000)
    by_patient: dict[int, list] = {}
    for device in devices:
        by_patient.setdefault(device.patient_id, []).append(device)
    for n, patient in enumerate(monitored):
        roll = rng.random()
        days = 1 if roll < 0.05 else rng.randint(2, 15) if roll < 0.35 else rng.randint(16, 30)
        chosen = sorted(rng.sample(range(30), days))
        for device in by_patient[patient.pk]:
            vital = "systolic" if device.kind == "bp_cuff" else "glucose"
            for day in chosen:
                for hour in (8, 19)[: rng.randint(1, 2)]:
                    readings.append(
                        Reading(
                            patient=patient,
                            device=device,
                            vital=vital,
                            value=120 + rng.randint(-15, 25),
                            measured_at=dt.datetime.combine(
                                MONTH[0] + dt.timedelta(days=day), dt.time(hour), zone
                            ),
                        )
                    )
        first_user = providers[n % PROVIDERS].user
        second_user = providers[(n + 1) % PROVIDERS].user
        for i in range(rng.randint(1, 4)):
            logs.append(
                TimeLog(
                    patient=patient,
                    clinician=first_user if i % 3 != 2 else second_user,
                    kind="interactive" if i == 0 and rng.random() < 0.85 else "monitoring",
                    minutes=rng.choice((5, 10, 12, 15, 20, 25)),
                    day=MONTH[0] + dt.timedelta(days=rng.randint(0, 29)),
                )
            )
    Reading.objects.bulk_create(readings, batch_size=5000)
    TimeLog.objects.bulk_create(logs, batch_size=2000)
    return {
        "visits": len(visits),
        "visits_in_month": VISITS,
        "monitored_patients": len(monitored),
        "readings": len(readings),
        "time_logs": len(logs),
    }


class QueryCounter:
    """Counts the statements run on the connection (cheaper than keeping them)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def timed_pull() -> tuple[float, float, int, services.PullResult, services.PullResult]:
    """The real pull, as the scheduled task runs it: visits, then monitoring."""
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        start = time.perf_counter()
        visits = services.pull_completed_visits(now=PULLED_AT)
        middle = time.perf_counter()
        monitoring = services.pull_monitoring(now=PULLED_AT)
        end = time.perf_counter()
    return end - start, middle - start, counter.count, visits, monitoring


ENCOUNTER_FIELDS = [
    f.attname for f in Encounter._meta.concrete_fields if f.attname not in ("id", "updated_at")
]
LINE_FIELDS = [f.attname for f in ClaimLine._meta.concrete_fields if f.attname != "id"]


def bare_insert() -> float:
    """The pull's own rows, read back, deleted and inserted again with bulk_create: what
    writing the month's encounters costs without working anything out."""
    encounters = list(Encounter.objects.order_by("pk").values(*ENCOUNTER_FIELDS, "id"))
    lines = list(ClaimLine.objects.order_by("pk").values(*LINE_FIELDS))
    ClaimLine.objects.all().delete()
    Encounter.objects.all().delete()
    start = time.perf_counter()
    with transaction.atomic():
        made = Encounter.objects.bulk_create(
            [Encounter(**{k: row[k] for k in ENCOUNTER_FIELDS}) for row in encounters],
            batch_size=1000,
        )
        new_id = {row["id"]: encounter.pk for row, encounter in zip(encounters, made, strict=True)}
        ClaimLine.objects.bulk_create(
            [ClaimLine(**{**row, "encounter_id": new_id[row["encounter_id"]]}) for row in lines],
            batch_size=1000,
        )
    return time.perf_counter() - start


def month() -> dict:
    import random

    from common import fresh_database

    drop = fresh_database()
    try:
        seeded = seed_month(random.Random(16))
        pull_s, visits_s, queries, visits, monitoring = timed_pull()
        encounters = Encounter.objects.count()
        lines = ClaimLine.objects.count()
        statuses = {
            status: Encounter.objects.filter(status=status).count()
            for status in ("draft", "needs_review", "ready")
        }
        bare_s = bare_insert()
        assert Encounter.objects.count() == encounters and ClaimLine.objects.count() == lines
    finally:
        drop()
    return {
        "database": connection.vendor,
        **seeded,
        "encounters": encounters,
        "encounters_from_visits": visits.built,
        "encounters_from_monitoring": monitoring.built,
        "pull_failures": visits.failed + monitoring.failed,
        "claim_lines": lines,
        "encounter_status": statuses,
        "pull_s": round(pull_s, 2),
        "pull_visits_s": round(visits_s, 2),
        "pull_monitoring_s": round(pull_s - visits_s, 2),
        "bare_insert_s": round(bare_s, 3),
        "pull_vs_bare_insert": round(pull_s / bare_s, 1),
        "queries": queries,
        "queries_per_encounter": round(queries / encounters, 1),
        "month_under_60_s": pull_s < 60,
    }


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def x12() -> dict:
    claims = batch()
    text = claim_batch_837p(claims, control_number=1, now=NOW)
    generate_ms = median_us(lambda: claim_batch_837p(claims, control_number=1, now=NOW)) / 1000
    errors: list = []
    validate_ms = seconds(lambda: errors.extend(validate(text))) * 1000
    era = remittance(claims.claims)
    era_generate_ms = median_us(lambda: remittance(claims.claims), rounds=3) / 1000
    read: list = []
    era_read_ms = seconds(lambda: read.append(parse_835(era))) * 1000
    return {
        "claims": CLAIMS,
        "segments_837p": text.count("~"),
        "pyx12_errors": len(errors),
        "generate_837p_ms": round(generate_ms, 1),
        "validate_837p_ms": round(validate_ms, 1),
        "validation_vs_generation": round(validate_ms / generate_ms, 1),
        "generation_10x_faster": validate_ms / generate_ms >= 10,
        "generate_835_ms": round(era_generate_ms, 1),
        "read_835_ms": round(era_read_ms, 1),
        "read_835_claims": len(read[0].claims),
    }


def main() -> None:
    m = month()
    print(
        f"month                  {m['visits_in_month']:,} visits and {m['monitored_patients']:,} "
        f"monitored patients: {m['encounters']:,} encounters, {m['claim_lines']:,} lines "
        f"({m['database']})"
    )
    print(
        f"                       pulled in {m['pull_s']} s ({m['pull_visits_s']} s visits, "
        f"{m['pull_monitoring_s']} s monitoring), inserted bare in "
        f"{m['bare_insert_s']} s (x{m['pull_vs_bare_insert']}), "
        f"{m['queries_per_encounter']} queries per encounter, under a minute: "
        f"{m['month_under_60_s']}"
    )
    x = x12()
    print(
        f"837P, {CLAIMS:,} claims       generated in {x['generate_837p_ms']} ms, "
        f"validated by pyx12 in {x['validate_837p_ms']} ms "
        f"(x{x['validation_vs_generation']}), {x['pyx12_errors']} errors"
    )
    print(
        f"835, {CLAIMS:,} claims        generated in {x['generate_835_ms']} ms, "
        f"validated and read in {x['read_835_ms']} ms"
    )
    print(json.dumps({"benchmark": "billing", "month": m, "x12": x}))


if __name__ == "__main__":
    main()
