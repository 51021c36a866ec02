"""The trend rule's baseline: the 30 days before the reading's UTC day, computed once a day per
patient and vital and kept, and replaced when readings it counted change."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rpm import services, vitals
from rpm.models import Alert, Baseline, Reading
from tests.rpm.test_fhir_ingest import at, post, published
from tests.rpm.test_rpm import bp, upload
from tests.rpm.test_rpm import device as device  # noqa: F401, PLC0414  (a fixture)

pytestmark = pytest.mark.django_db


def today_moments():
    """Two distinct moments of today (UTC), the later one now."""
    now = timezone.now()
    midnight = services.baseline_until(now)
    return midnight + (now - midnight) / 2, now


def usual_week(client, device):
    """30 calm systolic readings (118-121) in the last ten days: median 119, MAD 1."""
    now = timezone.now()
    history = [
        bp(now - timedelta(days=10) + timedelta(hours=7 * n), systolic=118 + n % 4, diastolic=76)
        for n in range(30)
    ]
    assert upload(client, device.token, history).json()["accepted"] == 60


def alerted(moment) -> bool:
    return Alert.objects.filter(readings__vital="systolic", readings__measured_at=moment).exists()


def test_a_days_baseline_is_computed_once_and_then_read(client, device):
    usual_week(client, device)
    first, second = today_moments()
    upload(client, device.token, [bp(first, systolic=120, diastolic=76)])
    assert not alerted(first)
    kept = Baseline.objects.get(vital="systolic")
    assert kept.until == services.baseline_until(first)
    assert (kept.readings, kept.median, kept.mad) == (30, 119.0, 1.0)
    # The next upload of the day judges against the kept row, not a fresh count: a row saying
    # the usual is 100 makes the same calm value far from it.
    Baseline.objects.filter(pk=kept.pk).update(median=100.0, mad=1.0)
    upload(client, device.token, [bp(second, systolic=120, diastolic=76)])
    assert alerted(second)
    assert Alert.objects.get().rule == Alert.Rule.TREND


def test_older_readings_sent_later_replace_the_kept_baseline(client, device):
    usual_week(client, device)
    first, second = today_moments()
    upload(client, device.token, [bp(first, systolic=120, diastolic=76)])
    assert Baseline.objects.get(vital="systolic").median == 119.0
    # A cuff that was offline sends 40 readings of 25-29 days ago, higher (140-147) and none
    # alarming: too little history before them for a baseline, under every threshold.
    earlier = timezone.now() - timedelta(days=29)
    late = [
        bp(earlier + timedelta(hours=3 * n), systolic=140 + n % 8, diastolic=76) for n in range(40)
    ]
    assert upload(client, device.token, late).json()["accepted"] == 80
    assert not Alert.objects.exists()
    # Against the kept baseline (119, MAD 1) 128 would be far off; against the 70 readings
    # now stored (median 140.5, MAD 6) it is not.
    upload(client, device.token, [bp(second, systolic=128, diastolic=76)])
    assert not alerted(second)
    kept = Baseline.objects.get(vital="systolic")
    assert (kept.until, kept.readings, kept.median, kept.mad) == (
        services.baseline_until(second),
        70,
        140.5,
        6.0,
    )


def test_a_withdrawn_reading_drops_the_kept_baseline_of_its_vital(client, device):
    fever = at(published("temperature-observation.json"), timezone.now() - timedelta(hours=2))
    fever["identifier"] = [{"system": "urn:device:thermo", "value": "t-1"}]
    fever["valueQuantity"] = {"value": 37.0, "system": vitals.UCUM, "code": "Cel"}
    assert post(client, device, fever).status_code == 201
    upload(client, device.token, [bp(timezone.now(), systolic=120, diastolic=76)])
    assert set(Baseline.objects.values_list("vital", flat=True)) == {
        "temperature",
        "systolic",
        "diastolic",
    }
    assert post(client, device, {**fever, "status": "entered-in-error"}).status_code == 200
    assert not Reading.objects.filter(vital="temperature").exists()
    assert set(Baseline.objects.values_list("vital", flat=True)) == {"systolic", "diastolic"}
