"""The billing worklists in a real browser: the front desk reads the totals and downloads the
encounters CSV; a clinician opens the monitoring patients close to a threshold and goes on to
one patient's page, where billing's panel shows the period. Screenshots at phone and desktop
widths."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import Encounter
from tests.asgi_server import AsgiServer
from tests.billing.test_worklists import encounter, monitor, readings_on, second_provider
from tests.conftest import make_patient
from tests.e2e.conftest import DESKTOP, PHONE, screenshot
from tests.e2e.test_video_visit import signed_in_context

pytestmark = pytest.mark.django_db(transaction=True)
S = Encounter.Status


def billing_year(world):
    alpha, second = world.clinician.provider, second_provider(world)
    statuses = [S.PAID, S.PAID, S.DENIED, S.EXPORTED, S.SIGNED, S.READY, S.NEEDS_REVIEW, S.DRAFT]
    for month in range(1, 13):
        for n, status in enumerate(statuses[: 3 + month % 6]):
            provider = alpha if n % 3 else second
            paid = "96.00" if status == S.PAID else ("0.00" if status == S.DENIED else None)
            encounter(world.patient, provider, date(2026, month, 1 + n), status, paid=paid)


def monitoring_patients(world):
    today = timezone.localdate(timezone=world.practice.zone)
    start = today - timedelta(days=25)  # 5 days left in period 1
    for name, count in (("Rosa Diaz", 14), ("Sam Lee", 1), ("Ana Ortiz", 10)):
        patient = make_patient(
            world.practice, name, f"{name.split()[0].lower()}@x.test", login=False
        )
        device = monitor(patient, world.clinician, start=start)
        days = [start + timedelta(days=n) for n in range(count)]
        readings_on(patient, device, days if count > 1 else [start + timedelta(days=23)])
    device = monitor(world.patient, world.clinician, start=start)
    readings_on(world.patient, device, [start + timedelta(days=n) for n in range(14)])


def test_front_desk_totals_and_csv_clinician_monitoring_due(world, browser):
    billing_year(world)
    monitoring_patients(world)
    with AsgiServer() as server:
        desk = signed_in_context(browser, server, world.front_desk).new_page()
        desk.goto(f"{server.url}/billing/totals/?year=2026")
        expect(
            desk.get_by_role("heading", name="Totals per provider and month, 2026")
        ).to_be_visible()
        table = desk.get_by_role("table", name="Encounters of Dr Alpha in 2026")
        expect(table.get_by_role("row", name="March")).to_be_visible()
        expect(table.get_by_role("row", name="Year")).to_be_visible()
        screenshot(desk, "worklists-totals-desktop")
        desk.set_viewport_size(PHONE)
        screenshot(desk, "worklists-totals-phone")
        desk.set_viewport_size(DESKTOP)
        desk.get_by_label("Status").select_option(label="Paid")
        desk.get_by_label("Month").fill("2026-03")
        with desk.expect_download() as download:
            desk.get_by_role("button", name="Download CSV").click()
        assert download.value.suggested_filename == "encounters-2026-03.csv"
        rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
        assert rows[0][0] == "Encounter" and len(rows) == 3
        assert {row[6] for row in rows[1:]} == {"Paid"}

        clinician = signed_in_context(browser, server, world.clinician).new_page()
        clinician.goto(f"{server.url}/billing/monitoring/due/")
        rows = clinician.get_by_role("row")
        expect(rows.filter(has_text="Rosa Diaz")).to_contain_text("2 more days needed")
        expect(rows.filter(has_text="Sam Lee")).to_contain_text("1 more day needed")
        expect(rows.filter(has_text="Ana Ortiz")).to_have_count(0)  # 16 is out of reach
        screenshot(clinician, "worklists-monitoring-due-desktop")
        clinician.set_viewport_size(PHONE)
        screenshot(clinician, "worklists-monitoring-due-phone")
        clinician.set_viewport_size(DESKTOP)
        clinician.get_by_role("link", name="Pat Alpha").click()
        panel = clinician.get_by_role("region", name="Billing this period")
        expect(panel).to_contain_text("2 more days needed")
        screenshot(clinician, "worklists-rpm-panel-desktop")
        clinician.set_viewport_size(PHONE)
        screenshot(clinician, "worklists-rpm-panel-phone")
