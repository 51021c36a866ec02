"""Monitoring encounters pulled from rpm's figures: device supply per 30-day period from the
start of monitoring (not per calendar month), setup once, treatment management per ended
calendar month by one practitioner, and nothing built twice."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from billing import services
from billing.models import ClaimLine, Encounter
from rpm import services as rpm_services
from rpm.models import Enrollment, Reading
from tests.billing.concurrency import pull_at_once

pytestmark = pytest.mark.django_db

# A fixed "now": 20 November 2026, midday in Boston.
NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def monitored(world, *, start: date):
    rpm_services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    Enrollment.objects.filter(patient=world.patient).update(start_date=start)


def device(world):
    made, _token = rpm_services.device_create(
        patient=world.patient, kind="bp_cuff", by=world.clinician
    )
    return made


def readings_on(world, dev, days):
    zone = world.practice.zone
    Reading.objects.bulk_create(
        Reading(
            patient=world.patient,
            device=dev,
            vital="heart_rate",
            value=70,
            # 23:30 local: the next day in UTC, so a UTC date would count the wrong day.
            measured_at=datetime.combine(day, time(23, 30), zone),
        )
        for day in days
    )


def days_from(first: date, count: int) -> list[date]:
    return [first + timedelta(days=n) for n in range(count)]


def lines(encounter):
    return [(line.code, line.units) for line in encounter.lines.all()]


def test_sixteen_days_from_two_devices_bill_one_supply_unit_and_setup_once(world):
    monitored(world, start=date(2026, 10, 1))
    cuff, scale = device(world), device(world)
    # The last reading day is the period's last day, 30 October (31 October in UTC).
    readings_on(world, cuff, days_from(date(2026, 10, 15), 16))
    readings_on(world, scale, days_from(date(2026, 10, 15), 16))

    assert services.pull_monitoring(now=NOW).built == 1

    encounter = Encounter.objects.get()
    assert encounter.source == f"rpm:{world.patient.pk}:2026-10-01"
    assert encounter.kind == Encounter.Kind.MONITORING
    assert encounter.date_of_service == date(2026, 10, 30)
    assert encounter.rendering_provider == world.clinician.provider
    assert lines(encounter) == [("99454", 1), ("99453", 1)]
    assert "2 devices" in encounter.lines.get(code="99454").reason
    assert services.pull_monitoring(now=NOW).built == 0
    assert Encounter.objects.count() == 1


def test_fifteen_days_in_a_period_spanning_two_months_bill_the_short_supply_code(world):
    monitored(world, start=date(2026, 10, 20))  # period 1: 20 October to 18 November
    readings_on(world, device(world), days_from(date(2026, 10, 25), 15))

    services.pull_monitoring(now=NOW)

    encounter = Encounter.objects.get()
    assert encounter.source == f"rpm:{world.patient.pk}:2026-10-20"
    assert lines(encounter)[0] == ("99445", 1)


def test_an_open_period_waits_until_it_reaches_full_supply(world):
    monitored(world, start=date(2026, 11, 1))
    cuff = device(world)
    readings_on(world, cuff, days_from(date(2026, 11, 1), 10))
    assert services.pull_monitoring(now=NOW).built == 0

    readings_on(world, cuff, days_from(date(2026, 11, 11), 6))
    assert services.pull_monitoring(now=NOW).built == 1
    encounter = Encounter.objects.get()
    assert lines(encounter)[0] == ("99454", 1)
    assert encounter.date_of_service == date(2026, 11, 20)


def test_treatment_management_is_billed_per_ended_month_by_one_practitioner(world):
    monitored(world, start=date(2026, 10, 1))
    for day, minutes in ((date(2026, 10, 5), 15), (date(2026, 10, 19), 10)):
        rpm_services.time_log(
            patient=world.patient, by=world.clinician, kind="interactive", minutes=minutes, day=day
        )
    rpm_services.time_log(
        patient=world.patient,
        by=world.clinician,
        kind="interactive",
        minutes=30,
        day=date(2026, 11, 3),  # November has not ended on NOW
    )

    assert services.pull_monitoring(now=NOW).built == 1

    encounter = Encounter.objects.get()
    assert encounter.source == f"rpm-month:{world.patient.pk}:2026-10"
    assert encounter.date_of_service == date(2026, 10, 31)
    assert encounter.minutes == 25
    assert encounter.rendering_provider == world.clinician.provider
    assert lines(encounter) == [("99457", 1)]
    assert "No diagnosis yet: add at least one ICD-10-CM code." in encounter.problems
    assert services.pull_monitoring(now=NOW).built == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_monitoring_pulls_build_each_encounter_once(require_postgres, world):
    monitored(world, start=date(2026, 10, 1))
    readings_on(world, device(world), days_from(date(2026, 10, 1), 20))
    rpm_services.time_log(
        patient=world.patient,
        by=world.clinician,
        kind="interactive",
        minutes=25,
        day=date(2026, 10, 5),
    )
    runs = 6
    built = pull_at_once(lambda: services.pull_monitoring(now=NOW), runs)
    assert sum(n for n in built if isinstance(n, int)) == 2, built
    assert all(isinstance(n, int) for n in built), built
    assert sorted(Encounter.objects.values_list("source", flat=True)) == [
        f"rpm-month:{world.patient.pk}:2026-10",
        f"rpm:{world.patient.pk}:2026-10-01",
    ]
    assert ClaimLine.objects.count() == 3  # 99454 and 99453 for the period, 99457 for October


def enrol(world, patient, *, start: date):
    enrolment = rpm_services.enroll(
        patient=patient, program="hypertension", clinicians=[world.clinician], by=world.clinician
    )
    Enrollment.objects.filter(pk=enrolment.pk).update(start_date=start)
    return Enrollment.objects.get(pk=enrolment.pk)


def patient_device(world, patient):
    made, _token = rpm_services.device_create(patient=patient, kind="bp_cuff", by=world.clinician)
    return made


def test_monitoring_that_started_before_the_rules_bills_from_the_billing_start_on(world):
    # 2024-11-01: no payer profile covers the early periods. Period 25 starts 720 days later.
    monitored(world, start=date(2024, 11, 1))
    readings_on(world, device(world), days_from(date(2026, 10, 22), 16))

    result = services.pull_monitoring(now=NOW)

    assert (result.built, result.failed) == (1, 0)
    encounter = Encounter.objects.get()
    assert encounter.source == f"rpm:{world.patient.pk}:2026-10-22"
    assert lines(encounter) == [("99454", 1)]  # setup belongs to the first period only
    assert not Encounter.objects.filter(date_of_service__lt=date(2025, 1, 1)).exists()


def test_an_unexpected_error_for_one_patient_does_not_stop_the_others(world, monkeypatch, caplog):
    first, second = world.patient, world.other_patient
    for patient in (first, second):
        enrol(world, patient, start=date(2026, 10, 1))
        readings_on_patient(world, patient, days_from(date(2026, 10, 1), 30))
    real = services.rpm_selectors.reading_dates_by_device

    def reading_dates(*, patient, first, last):
        if patient.pk == world.patient.pk:
            raise RuntimeError(f"bad data for {patient.legal_name}")
        return real(patient=patient, first=first, last=last)

    monkeypatch.setattr(services.rpm_selectors, "reading_dates_by_device", reading_dates)

    result = services.pull_monitoring(now=NOW)

    assert (result.built, result.failed) == (1, 1)
    assert list(Encounter.objects.values_list("patient_id", flat=True)) == [second.pk]
    assert f"patient {first.pk}" in caplog.text
    assert first.legal_name not in caplog.text


def readings_on_patient(world, patient, days):
    dev = patient_device(world, patient)
    zone = world.practice.zone
    Reading.objects.bulk_create(
        Reading(
            patient=patient,
            device=dev,
            vital="heart_rate",
            value=70,
            measured_at=datetime.combine(day, time(12, 0), zone),
        )
        for day in days
    )


def codes_billed(world) -> list[str]:
    return sorted(
        ClaimLine.objects.filter(encounter__patient=world.patient).values_list("code", flat=True)
    )


def test_ending_and_renewing_an_enrolment_does_not_bill_the_same_days_again(world):
    first = enrol(world, world.patient, start=date(2026, 10, 1))
    readings_on_patient(world, world.patient, days_from(date(2026, 10, 1), 45))
    assert services.pull_monitoring(now=datetime(2026, 11, 1, 17, tzinfo=UTC)).built == 1

    Enrollment.objects.filter(pk=first.pk).update(is_active=False)
    enrol(world, world.patient, start=date(2026, 10, 16))  # renewed in the middle of period 1

    # Counted from 16 October the 30 days with readings would bill supply and setup again;
    # counted from 1 October, period 2 (31 October on) is still open with 15 days.
    assert services.pull_monitoring(now=NOW).built == 0
    assert codes_billed(world) == ["99453", "99454"]
    assert Encounter.objects.get().period_start == date(2026, 10, 1)


def test_ending_one_of_two_programs_keeps_the_periods(world):
    first = enrol(world, world.patient, start=date(2026, 10, 1))
    other = rpm_services.enroll(
        patient=world.patient,
        program="heart_failure",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    Enrollment.objects.filter(pk=other.pk).update(start_date=date(2026, 10, 20))
    readings_on_patient(world, world.patient, days_from(date(2026, 10, 1), 45))
    assert services.pull_monitoring(now=datetime(2026, 11, 1, 17, tzinfo=UTC)).built == 1

    Enrollment.objects.filter(pk=first.pk).update(is_active=False)

    assert services.pull_monitoring(now=NOW).built == 0
    assert codes_billed(world) == ["99453", "99454"]


def test_device_supply_overlapping_a_billed_period_is_refused(world):
    first = enrol(world, world.patient, start=date(2026, 10, 1))
    readings_on_patient(world, world.patient, days_from(date(2026, 10, 1), 45))
    assert services.pull_monitoring(now=datetime(2026, 11, 1, 17, tzinfo=UTC)).built == 1

    # The start edited afterwards: periods counted from it overlap the billed one.
    Enrollment.objects.filter(pk=first.pk).update(start_date=date(2026, 10, 16))

    assert services.pull_monitoring(now=NOW).built == 0
    assert codes_billed(world) == ["99453", "99454"]


def test_enrolling_again_after_a_gap_starts_a_new_episode_with_its_own_setup(world):
    first = enrol(world, world.patient, start=date(2026, 6, 1))
    readings_on_patient(world, world.patient, days_from(date(2026, 6, 1), 30))
    assert services.pull_monitoring(now=datetime(2026, 7, 2, 17, tzinfo=UTC)).built == 1
    Enrollment.objects.filter(pk=first.pk).update(is_active=False)

    # Last reading 30 June, enrolled again 60 days later.
    enrol(world, world.patient, start=date(2026, 8, 29))
    readings_on_patient(world, world.patient, days_from(date(2026, 8, 29), 30))

    assert services.pull_monitoring(now=NOW).built == 1
    newest = Encounter.objects.get(period_start=date(2026, 8, 29))
    assert newest.source == f"rpm:{world.patient.pk}:2026-08-29"
    assert lines(newest) == [("99454", 1), ("99453", 1)]
    assert codes_billed(world) == ["99453", "99453", "99454", "99454"]
