"""Vitals read as a clinician reads them: labelled, with units and their real latest values;
a blood pressure panel that breaks its limits is one alert naming both numbers."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from rpm.models import Alert
from tests.conftest import sign_in
from tests.rpm import test_rpm
from tests.rpm.test_rpm import bp, upload


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db
device = test_rpm.device


def readings_cell(html: str) -> str:
    row = re.search(r"<tr class=\"[^\"]*\">(.*?)</tr>", html, re.S)
    assert row is not None
    return re.sub(r"<[^>]+>", "", re.findall(r"<td>(.*?)</td>", row.group(1), re.S)[2])


def test_dashboard_shows_labelled_latest_values_with_units(client: Client, world, device):
    now = timezone.now()
    upload(client, device.token, [bp(now - timedelta(hours=2), systolic=130, diastolic=85)])
    upload(client, device.token, [bp(now, systolic=220, diastolic=128, heart_rate=72)])
    sign_in(client, world.clinician)
    cell = " ".join(readings_cell(client.get("/rpm/").content.decode()).split())
    assert "None" not in cell
    assert "Blood pressure 220/128 mmHg" in cell
    assert "Heart rate 72 /min" in cell
    assert "systolic" not in cell and "heart_rate" not in cell


def test_trend_captions_give_the_last_value_with_its_unit(client: Client, world, device):
    upload(client, device.token, [bp(timezone.now(), systolic=141, diastolic=91, heart_rate=66)])
    sign_in(client, world.clinician)
    page = client.get(f"/rpm/patients/{world.patient.pk}/").content.decode()
    captions = " ".join(
        re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<figcaption>(.*?)</figcaption>", page, re.S)
    )
    assert "last 141 mmHg" in captions and "last 66 /min" in captions


def test_dashboard_labels_are_translated(client: Client, world, device):
    upload(client, device.token, [bp(timezone.now(), systolic=140, diastolic=90, heart_rate=70)])
    sign_in(client, world.clinician)
    client.cookies["django_language"] = "es"
    cell = readings_cell(client.get("/rpm/", HTTP_ACCEPT_LANGUAGE="es").content.decode())
    assert "140/90 mmHg" in cell
    assert "Frecuencia cardíaca 70 /min" in cell


def test_a_high_blood_pressure_reading_is_one_alert_naming_both_values(client, world, device):
    now = timezone.now()
    upload(client, device.token, [bp(now, systolic=220, diastolic=128)])
    alert = Alert.objects.get()
    assert alert.severity == "critical"
    assert alert.readings.count() == 2
    assert "220/128 mmHg" in alert.summary and "180/120" in alert.summary
    # The next high reading joins the same episode instead of opening a second alert.
    upload(client, device.token, [bp(now - timedelta(minutes=5), systolic=190, diastolic=95)])
    assert Alert.objects.count() == 1
    assert Alert.objects.get().readings.count() == 4


def test_a_panel_breaking_only_one_limit_names_that_limit(client, world, device):
    upload(client, device.token, [bp(timezone.now(), systolic=150, diastolic=125)])
    alert = Alert.objects.get()
    assert alert.severity == "critical"
    assert "150/125 mmHg" in alert.summary and "diastolic" in alert.summary.lower()


def test_other_vitals_keep_their_own_alerts(client, world, device):
    now = timezone.now()
    upload(client, device.token, [bp(now, systolic=220, diastolic=128, heart_rate=140)])
    assert sorted(Alert.objects.values_list("severity", flat=True)) == ["critical", "warning"]
    assert Alert.objects.get(severity="warning").vital == "heart_rate"
