"""The practice dashboards: figures on seeded data with known answers, who may see them, the
CSV export, bad filters, and a query count that does not grow with the data."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics import selectors
from analytics.forms import FilterForm
from telehealth.accounts.models import Role
from telehealth.notify import wording
from tests.analytics.seed import WEEK_ONE, seed_monitoring, seed_practice, seed_week
from tests.conftest import make_staff, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


TODAY = date(2026, 11, 20)


@pytest.fixture
def seeded(world):
    seed_practice(world)
    seed_week(world, WEEK_ONE, tag="a")
    seed_monitoring(world)
    return world


def filters_for(world, first=WEEK_ONE, last=WEEK_ONE + timedelta(days=6), **extra):
    form = FilterForm(
        {"first_day": first, "last_day": last, **extra}, user=world.admin, today=TODAY
    )
    assert form.is_valid(), form.errors
    return form.filters()


def tiles(section) -> dict[str, str]:
    return {tile.label: tile.value for tile in section.tiles}


def table(section, key):
    return next(t for t in section.tables if t.key == key)


def test_appointment_figures_match_the_seeded_week(seeded):
    section = selectors.appointments(user=seeded.admin, filters=filters_for(seeded))
    shown = tiles(section)
    assert shown["Booked"] == "12"
    assert shown["Completed"] == "8"
    assert shown["Cancelled"] == "2"
    assert shown["No-show rate"] == "20.0 %"  # 2 of the 10 that were due
    assert shown["Median lead time"] == "3.0 days"
    assert shown["Utilisation"] == "25.0 %"  # 10 x 30 min of 5 x 4 h
    assert shown["Booked by patients"] == "50.0 %"
    effect = table(section, "reminders-effect")
    # Reminders began the Sunday before (the first one was queued then): all of it is after.
    assert effect.rows[0][1:] == ["0", "0", "—"]
    assert effect.rows[1][1:] == ["10", "2", "20.0 %"]
    providers = table(section, "appointments-by-provider")
    assert providers.rows == [["Dr Alpha", "12", "8", "20.0 %", "20.0", "25.0 %"]]


def test_a_filter_on_another_modality_or_provider_empties_the_figures(seeded):
    phone = selectors.appointments(user=seeded.admin, filters=filters_for(seeded, modality="phone"))
    assert tiles(phone)["Booked"] == "0"
    assert tiles(phone)["No-show rate"] == "—"


def test_message_figures_match_the_seeded_week(seeded):
    section = selectors.messages(user=seeded.admin, filters=filters_for(seeded))
    shown = tiles(section)
    assert shown["Messages due"] == "7"
    assert shown["Sent"] == "5"  # 4 texts delivered, 1 email sent
    assert shown["Delivered"] == "4"
    assert shown["Failed"] == "2"
    assert shown["Opt-outs"] == "1"
    by_channel = table(section, "messages-by-channel").rows
    assert by_channel[0] == ["Text", "4", "4", "2", "0", "4", "50.0 %"]  # 2 replies, 4 reminders
    assert by_channel[1][:2] == ["Email", "1"]
    assert table(section, "failure-reasons").rows == [['=HYPERLINK("http://x") unreachable', "2"]]
    size = wording.sms_size(
        wording.render(
            wording.BUILT_IN[("appointment.reminder", "sms", "en")][1], wording.SAMPLE_CONTEXT
        )
    )
    assert shown["Text segments"] == f"{4 * size.segments:,}"
    drain = table(section, "drain-time")
    assert drain.title.startswith("Largest reminder batch: 6 texts")
    long_code = next(row for row in drain.rows if row[0].startswith("Long code"))
    assert long_code[2] == f"{6 * size.segments / 60:,.1f}"  # 1 segment a second


def test_inbox_figures_match_the_seeded_week(seeded):
    section = selectors.inbox(user=seeded.admin, filters=filters_for(seeded))
    shown = tiles(section)
    assert shown["Conversations started"] == "3"
    assert shown["First response, median"] == "2.0 h"  # 1, 2, 3 hours; the note doesn't count
    assert shown["Resolution, median"] == "4.0 h"
    assert shown["Written after hours"] == "25.0 %"  # the 22:00 message of four
    by_member = {row[0]: row for row in table(section, "inbox-by-member").rows}
    assert by_member["Desk"][1:4] == ["2", "1.5", "2.0"]
    assert by_member["Dr Alpha"][1:4] == ["1", "3.0", "3.0"]
    by_category = {row[0]: row for row in table(section, "inbox-by-category").rows}
    assert by_category["Prescription refill"][1:3] == ["1", "1.0"]


def test_visit_figures_match_the_seeded_week(seeded):
    section = selectors.visits_section(user=seeded.admin, filters=filters_for(seeded))
    shown = tiles(section)
    assert shown["Visits ended"] == "4"
    assert shown["Wait, median"] == "12.5 min"
    assert shown["Length, median"] == "20.0 min"
    assert shown["Fell back to audio"] == "25.0 %"
    assert shown["Patient reconnected"] == "25.0 %"
    waits = dict((row[0], row[1]) for row in table(section, "waiting-room").rows)
    assert waits == {
        "Under 5 min": "0",
        "5-10 min": "1",
        "10-15 min": "1",
        "15-30 min": "2",
        "30 min or more": "0",
    }


def test_monitoring_figures_match_the_seeded_data(seeded):
    section = selectors.monitoring(user=seeded.admin, filters=filters_for(seeded), today=TODAY)
    shown = tiles(section)
    assert shown["Patients enrolled"] == "2"
    assert shown["Adherence"] == "50.0 %"  # 7 of 14 patient-days
    assert shown["Alerts"] == "2"
    assert shown["Time to acknowledge"] == "1.0 h"
    billing = {row[0]: row[2] for row in table(section, "rpm-billing").rows}
    assert billing == {"99445": "1", "99454": "1"}  # 3 days; 16 days, this month so far
    bands = dict(table(section, "rpm-adherence").rows)
    assert bands == {"No readings": "1", "1-7 days": "1", "8-15 days": "0", "16 days or more": "0"}


def test_another_practices_admin_sees_only_their_own(seeded):
    outside_admin = make_staff(
        seeded.outside_practice, Role.PRACTICE_ADMIN, "admin@beta.test", "Beta Admin"
    )
    form = FilterForm(
        {"first_day": WEEK_ONE, "last_day": WEEK_ONE + timedelta(days=6)},
        user=outside_admin,
        today=TODAY,
    )
    assert form.is_valid()
    sections = selectors.dashboard(user=outside_admin, filters=form.filters(), today=TODAY)
    for section in sections:
        for label, value in tiles(section).items():
            if label == "Opt-outs":
                # The world's patients of both practices share one phone number, and a
                # number that texted STOP is opted out for every practice that texts it.
                continue
            assert value in ("0", "—", "— %", "— days", "— h", "— min", "0.00"), (label, value)


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.PATIENT])
def test_other_roles_are_refused(client, world, role):
    sign_in(client, world.user_for(role))
    assert client.get(reverse("analytics:dashboard")).status_code == 403
    url = reverse("analytics:table-csv", args=["appointments", "booked-via"])
    assert client.get(url).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, world):
    response = client.get(reverse("analytics:dashboard"))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_an_admin_without_the_second_factor_is_sent_to_verify_it(client, world):
    sign_in(client, world.admin, verified=False)
    response = client.get(reverse("analytics:dashboard"))
    assert response.status_code == 302
    assert "mfa" in response["Location"]


def test_the_dashboard_shows_each_chart_with_its_table(client, seeded):
    sign_in(client, seeded.admin)
    response = client.get(
        reverse("analytics:dashboard"), {"first_day": "2026-11-02", "last_day": "2026-11-08"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") >= 5
    assert page.count('role="img"') == page.count("<svg")
    assert page.count("<title id=") == page.count("<svg")
    assert "20.0 %" in page
    assert "<script" not in page.split("</main>")[0].split("<main")[-1]


def test_the_csv_escapes_cells_a_spreadsheet_would_run(client, seeded):
    sign_in(client, seeded.admin)
    response = client.get(
        reverse("analytics:table-csv", args=["messages", "failure-reasons"]),
        {"first_day": "2026-11-02", "last_day": "2026-11-08"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "Reason,Messages"
    assert lines[1] == '"\'=HYPERLINK(""http://x"") unreachable",2'


def test_every_table_of_the_dashboard_downloads(client, seeded):
    sign_in(client, seeded.admin)
    params = {"first_day": "2026-11-02", "last_day": "2026-11-08"}
    filters = filters_for(seeded)
    for section in selectors.dashboard(user=seeded.admin, filters=filters, today=TODAY):
        for shown in section.tables:
            url = reverse("analytics:table-csv", args=[section.key, shown.key])
            response = client.get(url, params)
            assert response.status_code == 200, url
            assert response.content.decode().count("\r\n") == len(shown.rows) + 1


@pytest.mark.parametrize(
    "params, message",
    [
        ({"first_day": "2026-11-08", "last_day": "2026-11-02"}, "on or before"),
        ({"first_day": "2025-01-01", "last_day": "2026-11-02"}, "at most 366"),
        ({"first_day": "yesterday"}, "valid date"),
        ({"provider": "999999"}, "valid choice"),
        ({"last_day": "0001-01-10"}, "between 1900-01-01 and 2200-12-31"),
        ({"first_day": "9999-12-01", "last_day": "9999-12-31"}, "between 1900-01-01"),
    ],
)
def test_bad_filters_get_a_400_with_the_reason(client, world, params, message):
    sign_in(client, world.admin)
    page = client.get(reverse("analytics:dashboard"), params)
    assert page.status_code == 400
    assert message in page.content.decode()
    csv = client.get(reverse("analytics:table-csv", args=["inbox", "inbox-by-category"]), params)
    assert csv.status_code == 400
    assert message in csv.content.decode()


def test_another_practices_provider_is_not_a_choice(client, world):
    from telehealth.accounts.models import Provider

    outsider = Provider.objects.create(
        user=world.outside_clinician,
        practice=world.outside_practice,
        slug="beta",
        display_name="Dr Beta",
        npi="1987654328",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    sign_in(client, world.admin)
    assert client.get(reverse("analytics:dashboard"), {"provider": outsider.pk}).status_code == 400


def test_unknown_sections_and_tables_are_404(client, world):
    sign_in(client, world.admin)
    assert client.get(reverse("analytics:table-csv", args=["nope", "x"])).status_code == 404
    assert client.get(reverse("analytics:table-csv", args=["inbox", "x"])).status_code == 404


def test_the_dashboards_query_count_does_not_grow_with_the_data(
    client, seeded, without_session_cache
):
    sign_in(client, seeded.admin)
    params = {"first_day": "2026-11-02", "last_day": "2026-11-15"}
    url = reverse("analytics:dashboard")
    with CaptureQueriesContext(connection) as one_week:
        assert client.get(url, params).status_code == 200
    seed_week(seeded, WEEK_ONE + timedelta(days=7), tag="b")
    with CaptureQueriesContext(connection) as two_weeks:
        page = client.get(url, params)
    assert page.status_code == 200
    assert "24" in page.content.decode()  # twice the appointments
    assert len(two_weeks) == len(one_week)
    assert len(two_weeks) <= 40


def test_the_admin_home_page_links_to_analytics(client, world):
    sign_in(client, world.admin)
    page = client.get(reverse("home")).content.decode()
    assert reverse("analytics:dashboard") in page


def test_no_patient_is_named_on_the_dashboard(client, seeded):
    sign_in(client, seeded.admin)
    page = client.get(
        reverse("analytics:dashboard"), {"first_day": "2026-11-02", "last_day": "2026-11-08"}
    ).content.decode()
    assert seeded.patient.legal_name not in page
    assert seeded.other_patient.legal_name not in page
