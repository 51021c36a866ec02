"""Worklists: totals per provider and month, the encounters as CSV (content, filters, escaping,
audit), the monitored patients close to a threshold (worked examples, then the page), billing's
panel on rpm's patient page, and who may open each page."""

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import worklists
from billing.models import ClaimLine, Encounter, Payer
from billing.monitoring import TimeEntry
from billing.progress import DUE_WINDOW, month_window, standing
from billing.views.worklists import rpm_patient_panel
from rpm import panels
from rpm import services as rpm_services
from rpm.models import Enrollment, Reading
from telehealth.accounts.models import Provider
from telehealth.audit.models import Action, AuditEvent
from tests.conftest import make_patient, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


S = Encounter.Status
SIGNED = {S.SIGNED, S.EXPORTED, S.PAID, S.DENIED}


def second_provider(world) -> Provider:
    return Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="doc2",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )


_sources = iter(range(1, 10_000))


def encounter(
    patient,
    provider,
    day: date,
    status: str,
    lines=(("99213", ["95"], 1, "120.00"),),
    *,
    paid: str | None = None,
    payer=None,
    payer_claim_number: str = "",
):
    made = Encounter.objects.create(
        practice=patient.practice,
        patient=patient,
        kind=Encounter.Kind.MONITORING,
        source=f"test:{next(_sources)}",
        rendering_provider=provider,
        date_of_service=day,
        status=status,
        signed_by=provider.user if status in SIGNED and provider else None,
        signed_at=timezone.now() if status in SIGNED and provider else None,
        paid_amount=Decimal(paid) if paid is not None else None,
        payer=payer,
        payer_claim_number=payer_claim_number,
    )
    for position, (code, modifiers, units, charge) in enumerate(lines, start=1):
        ClaimLine.objects.create(
            encounter=made,
            position=position,
            code=code,
            modifiers=modifiers,
            place_of_service="10",
            units=units,
            charge=Decimal(charge),
        )
    return made


# --- Totals per provider and month ---------------------------------------------------------

# (provider, date of service, status, line charges, paid)
TOTALS_CASES = [
    ("alpha", date(2026, 3, 2), S.DRAFT, ["100.00"], None),
    ("alpha", date(2026, 3, 31), S.PAID, ["120.00", "40.00"], "130.50"),
    ("alpha", date(2026, 3, 15), S.PAID, ["120.00"], "96.00"),
    ("alpha", date(2026, 3, 16), S.DENIED, ["80.00"], "0.00"),
    ("alpha", date(2026, 4, 1), S.NEEDS_REVIEW, ["50.00"], None),
    ("second", date(2026, 3, 10), S.EXPORTED, ["200.00"], None),
    ("second", date(2026, 12, 31), S.SIGNED, ["75.00"], None),
    ("alpha", date(2025, 12, 31), S.PAID, ["999.00"], "999.00"),  # another year
]
# (provider, month): (counts by status, charges, paid)
TOTALS_EXPECTED = {
    ("Dr Alpha", date(2026, 3, 1)): (
        {S.DRAFT: 1, S.PAID: 2, S.DENIED: 1},
        Decimal("460.00"),
        Decimal("226.50"),
    ),
    ("Dr Alpha", date(2026, 4, 1)): ({S.NEEDS_REVIEW: 1}, Decimal("50.00"), Decimal("0")),
    ("Dr Second", date(2026, 3, 1)): ({S.EXPORTED: 1}, Decimal("200.00"), Decimal("0")),
    ("Dr Second", date(2026, 12, 1)): ({S.SIGNED: 1}, Decimal("75.00"), Decimal("0")),
}


@pytest.fixture
def totals_world(world):
    providers = {"alpha": world.clinician.provider, "second": second_provider(world)}
    for who, day, status, charges, paid in TOTALS_CASES:
        encounter(
            world.patient,
            providers[who],
            day,
            status,
            [("99213", [], 1, charge) for charge in charges],
            paid=paid,
        )
    # Another practice's encounter in the same month counts for nobody here.
    outside = Provider.objects.create(
        user=world.outside_clinician,
        practice=world.outside_practice,
        slug="beta",
        display_name="Dr Beta",
        npi="1679576722",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    encounter(world.outside_patient, outside, date(2026, 3, 5), S.PAID, paid="50.00")
    return world


def as_table(rows):
    return {
        (row.provider_name, row.month): (
            {status: n for status, n in row.by_status.items() if n},
            row.charges,
            row.paid,
        )
        for row in rows
    }


@pytest.mark.django_db
def test_totals_per_provider_and_month_on_the_table_of_cases(
    totals_world, django_assert_num_queries
):
    with django_assert_num_queries(3):
        rows = worklists.provider_month_totals(user=totals_world.admin, year=2026)
    assert as_table(rows) == TOTALS_EXPECTED
    assert [(row.provider_name, row.month.month) for row in rows] == [
        ("Dr Alpha", 3),
        ("Dr Alpha", 4),
        ("Dr Second", 3),
        ("Dr Second", 12),
    ]
    assert rows[0].count == 4


@pytest.mark.django_db
def test_two_providers_of_the_same_name_each_get_one_table_with_their_own_year(totals_world):
    # Sorted by name then month, the rows of two "Dr Alpha"s interleaved (Alpha 1 in March,
    # Alpha 2 in March, Alpha 1 in April) and were grouped into fragments with partial sums.
    Provider.objects.filter(display_name="Dr Second").update(display_name="Dr Alpha")

    groups = worklists.by_provider(
        worklists.provider_month_totals(user=totals_world.admin, year=2026)
    )

    assert [(group.provider_name, group.npi) for group in groups] == [
        ("Dr Alpha", totals_world.clinician.provider.npi),
        ("Dr Alpha", "1245319599"),
    ]
    first, second = groups
    assert [row.month.month for row in first.months] == [3, 4]
    assert (first.total.count, first.total.charges) == (5, Decimal("510.00"))
    assert [row.month.month for row in second.months] == [3, 12]
    assert (second.total.count, second.total.charges) == (2, Decimal("275.00"))


@pytest.mark.django_db
def test_a_clinician_totals_only_their_own_encounters(totals_world):
    rows = worklists.provider_month_totals(user=totals_world.clinician, year=2026)
    assert {name for name, _month in as_table(rows)} == {"Dr Alpha"}
    assert worklists.provider_month_totals(user=totals_world.front_desk, year=2026) == (
        worklists.provider_month_totals(user=totals_world.admin, year=2026)
    )


@pytest.mark.django_db
def test_another_year_has_its_own_totals(totals_world):
    rows = worklists.provider_month_totals(user=totals_world.admin, year=2025)
    assert as_table(rows) == {
        ("Dr Alpha", date(2025, 12, 1)): ({S.PAID: 1}, Decimal("999.00"), Decimal("999.00"))
    }


@pytest.mark.django_db
def test_the_totals_page_shows_the_table_by_year(client, totals_world):
    sign_in(client, totals_world.front_desk)
    page = client.get(reverse("billing:totals"), {"year": 2026})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Dr Second" in html and "460.00" in html and "226.50" in html
    assert "Dr Beta" not in html and "999.00" not in html
    assert 'aria-labelledby="export-heading"' in html  # the front desk may export
    assert client.get(reverse("billing:totals"), {"year": "soon"}).status_code == 400


@pytest.mark.django_db
def test_a_clinician_sees_no_export_form_and_only_their_row(client, totals_world):
    sign_in(client, totals_world.clinician)
    html = client.get(reverse("billing:totals"), {"year": 2026}).content.decode()
    assert "Dr Alpha" in html and "Dr Second" not in html
    assert "export-heading" not in html


# --- The encounters as CSV -----------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def csv_world(world):
    payer = Payer.objects.create(
        practice=world.practice, name="Acme Health", payer_id="ACME1", profile_kind="commercial"
    )
    world.paid = encounter(
        world.patient,
        world.clinician.provider,
        date(2026, 3, 2),
        S.PAID,
        [("99454", [], 1, "50.00"), ("99458", ["GT", "95"], 2, "80.00")],
        paid="101.25",
        payer=payer,
        payer_claim_number="+2026-77",
    )
    world.draft = encounter(world.other_patient, second_provider(world), date(2026, 4, 7), S.DRAFT)
    return world


@pytest.mark.django_db
def test_the_csv_has_one_row_per_encounter_with_codes_money_and_claim_numbers(client, csv_world):
    sign_in(client, csv_world.front_desk)
    response = client.get(reverse("billing:encounters-csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="encounters.csv"'
    assert "no-store" in response["Cache-Control"]
    rows = read_csv(response)
    assert rows[0] == [
        "Encounter",
        "Date of service",
        "Patient",
        "Provider",
        "NPI",
        "Kind",
        "Status",
        "Codes",
        "Units",
        "Charge",
        "Paid",
        "Payer",
        "Claim number",
        "Payer claim number",
    ]
    paid = csv_world.paid
    assert rows[1] == [
        str(paid.pk),
        "2026-03-02",
        "Pat Alpha",
        "Dr Alpha",
        "1234567893",
        "Monitoring period",
        "Paid",
        "99454; 99458-GT-95",
        "1; 2",
        "130.00",
        "101.25",
        "Acme Health",
        f"E{paid.pk}",
        "'+2026-77",  # starts like a formula: escaped
    ]
    assert rows[2][2] == "Other Alpha" and rows[2][6] == "Draft" and rows[2][10] == ""
    assert len(rows) == 3


@pytest.mark.django_db
def test_the_csv_never_carries_diagnoses(client, csv_world):
    csv_world.paid.diagnoses.create(position=1, code="I10", description="Essential hypertension")
    sign_in(client, csv_world.admin)
    text = client.get(reverse("billing:encounters-csv")).content.decode()
    assert "I10" not in text and "hypertension" not in text


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1 Smith", "'+1 Smith"),
        ("-Smith", "'-Smith"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("O'Brien-Smith", "O'Brien-Smith"),  # a dash inside is harmless
    ],
)
@pytest.mark.django_db
def test_csv_cells_that_start_like_formulas_are_escaped(client, world, name, written):
    patient = make_patient(world.practice, name, "formula@alpha.test", login=False)
    encounter(patient, world.clinician.provider, date(2026, 3, 2), S.DRAFT)
    sign_in(client, world.front_desk)
    rows = read_csv(client.get(reverse("billing:encounters-csv")))
    assert rows[1][2] == written


def test_our_own_numbers_stay_numbers_even_when_negative():
    assert worklists.safe_cell(Decimal("-12.50")) == "-12.50"
    assert worklists.safe_cell("-12.50") == "'-12.50"
    assert worklists.safe_cell("\tTab") == "'\tTab"  # names are stripped; other text may not be


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "paid"}, ["paid"]),
        ({"status": "draft"}, ["draft"]),
        ({"month": "2026-04"}, ["draft"]),
        ({"month": "2026-03", "status": "paid"}, ["paid"]),
        ({"month": "2026-05"}, []),
        ({}, ["paid", "draft"]),
    ],
)
@pytest.mark.django_db
def test_the_csv_filters_by_status_and_month(client, csv_world, query, expected):
    sign_in(client, csv_world.admin)
    rows = read_csv(client.get(reverse("billing:encounters-csv"), query))
    ids = {"paid": str(csv_world.paid.pk), "draft": str(csv_world.draft.pk)}
    assert [row[0] for row in rows[1:]] == [ids[name] for name in expected]


@pytest.mark.django_db
def test_the_csv_filters_by_provider_and_names_the_month_in_the_file(client, csv_world):
    sign_in(client, csv_world.admin)
    response = client.get(
        reverse("billing:encounters-csv"),
        {"provider": csv_world.clinician.provider.pk, "month": "2026-03"},
    )
    assert [row[0] for row in read_csv(response)[1:]] == [str(csv_world.paid.pk)]
    assert response["Content-Disposition"] == 'attachment; filename="encounters-2026-03.csv"'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"month": "March"}, "Give the month as YYYY-MM"),
        ({"status": "lost"}, "Select a valid choice"),
        ({"provider": "outside"}, "Choose a provider of this practice"),
    ],
)
@pytest.mark.django_db
def test_bad_filters_are_refused_with_a_reason_and_nothing_is_exported(
    client, csv_world, query, message
):
    if query.get("provider") == "outside":
        outside = Provider.objects.create(
            user=csv_world.outside_clinician,
            practice=csv_world.outside_practice,
            slug="beta",
            display_name="Dr Beta",
            npi="1679576722",
            licensed_states=["MA"],
            time_zone="America/New_York",
        )
        query = {"provider": outside.pk}
    sign_in(client, csv_world.front_desk)
    response = client.get(reverse("billing:encounters-csv"), query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


@pytest.mark.django_db
def test_each_exported_encounter_is_in_its_patients_access_log(client, csv_world):
    sign_in(client, csv_world.front_desk)
    client.get(reverse("billing:encounters-csv"))
    event = AuditEvent.objects.get(action=Action.EXPORT)  # one event lists every row
    assert {(s.object_id, s.patient_id) for s in event.subjects.all()} == {
        (str(csv_world.paid.pk), csv_world.patient.pk),
        (str(csv_world.draft.pk), csv_world.other_patient.pk),
    }
    assert event.actor_id == csv_world.front_desk.pk
    assert event.detail == "encounters CSV, 2 rows; status=any, provider=any, month=any"
    for patient in (csv_world.patient, csv_world.other_patient):
        assert AuditEvent.objects.about_patient(patient).filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_the_csv_leaves_out_another_practices_encounters(client, csv_world):
    encounter(csv_world.outside_patient, None, date(2026, 3, 2), S.DRAFT)
    sign_in(client, csv_world.admin)
    rows = read_csv(client.get(reverse("billing:encounters-csv")))
    assert "Pat Beta" not in {row[2] for row in rows}


# --- Close to a threshold: worked examples (no database) -----------------------------------

# A 30-day period from 20 October 2026: period 2 runs 19 November to 18 December.
START = date(2026, 10, 20)
PERIOD_2 = date(2026, 11, 19)


def reading_days(count: int) -> dict[str, list[date]]:
    return {"cuff": [PERIOD_2 + timedelta(days=n) for n in range(count)]}


def on_day_with_left(days_left: int) -> date:
    """The day on which `days_left` days remain, when today has no reading yet."""
    return date(2026, 12, 18) - timedelta(days=days_left - 1)


@pytest.mark.parametrize(
    ("days", "left", "states", "close"),
    [
        # the example: 2 more days needed for 99454 with 5 left (3 to spare)
        (14, 5, {"99445": "met", "99454": "close"}, True),
        (16, 5, {"99445": "met", "99454": "met"}, False),  # already met
        (15, 1, {"99445": "met", "99454": "close"}, True),  # one more day, the last day
        (1, 1, {"99445": "close", "99454": "out_of_reach"}, True),  # 16 lost; 2 still there
        (2, 1, {"99445": "met", "99454": "out_of_reach"}, False),  # nothing left to reach
        (9, 6, {"99445": "met", "99454": "out_of_reach"}, False),  # 7 needed, 6 left
        (10, 6, {"99445": "met", "99454": "close"}, True),  # 6 of 6: none to spare
        (10, 10, {"99445": "met", "99454": "on_track"}, False),  # 4 to spare, 10 days to go
        (12, 8, {"99445": "met", "99454": "on_track"}, False),  # 4 to spare, 8 days to go
        (0, 3, {"99445": "close", "99454": "out_of_reach"}, True),
        (0, 25, {"99445": "on_track", "99454": "on_track"}, False),  # early: time enough
    ],
)
def test_device_supply_close_to_a_threshold(days, left, states, close):
    today = on_day_with_left(left)
    readings = reading_days(days)
    assert all(day < today for day in readings["cuff"])
    result = standing(start=START, readings=readings, entries=[], today=today)
    assert (result.period.number, result.days_with_readings, result.days_left) == (2, days, left)
    assert {t.code: t.state for t in result.supply} == states
    assert any(t.close for t in result.supply) is close


def test_a_period_ending_within_a_week_is_close_even_with_days_to_spare():
    # 1 day with readings, 7 days left: 99445 needs 1 with 6 to spare, but the period ends
    # within DUE_WINDOW.period_ends_within days.
    assert DUE_WINDOW.period_ends_within == 7
    result = standing(start=START, readings=reading_days(1), entries=[], today=on_day_with_left(7))
    assert {t.code: t.state for t in result.supply}["99445"] == "close"


def test_a_reading_today_counts_and_today_is_no_longer_left():
    today = on_day_with_left(5)
    readings = {"cuff": [*reading_days(14)["cuff"], today]}
    result = standing(start=START, readings=readings, entries=[], today=today)
    assert (result.days_with_readings, result.days_left) == (15, 4)
    assert result.next_supply is not None and result.next_supply.days_needed == 1


def test_two_devices_on_one_day_count_one_day():
    readings = {"cuff": reading_days(14)["cuff"], "scale": reading_days(14)["cuff"]}
    result = standing(start=START, readings=readings, entries=[], today=on_day_with_left(5))
    assert result.days_with_readings == 14


def entry(minutes: int, *, day: date, who: int = 1, interactive: bool = True) -> TimeEntry:
    return TimeEntry(day, minutes, interactive, who, f"Dr {who}")


@pytest.mark.parametrize(
    ("minutes", "today", "states", "close"),
    [
        # 26 December: the month ends within 7 days (today included: 6)
        (0, date(2026, 12, 26), {"99470": "close", "99457": "open", "99458": "open"}, True),
        (15, date(2026, 12, 26), {"99470": "met", "99457": "close", "99458": "open"}, True),
        (19, date(2026, 12, 26), {"99470": "met", "99457": "close", "99458": "open"}, True),
        (20, date(2026, 12, 26), {"99470": "met", "99457": "met", "99458": "open"}, False),
        (30, date(2026, 12, 26), {"99470": "met", "99457": "met", "99458": "close"}, True),
        (41, date(2026, 12, 26), {"99470": "met", "99457": "met", "99458": "met"}, False),
        # 10 December: three weeks to go, nothing is close yet
        (15, date(2026, 12, 10), {"99470": "met", "99457": "open", "99458": "open"}, False),
    ],
)
def test_treatment_management_minutes_against_10_20_and_40(minutes, today, states, close):
    entries = [entry(minutes, day=date(2026, 12, 3))] if minutes else []
    # 16 days already: device supply is met and does not decide closeness here.
    result = standing(start=START, readings=reading_days(16), entries=entries, today=today)
    assert {t.code: t.state for t in result.management} == states
    assert {t.code: t.min_minutes for t in result.management} == {
        "99470": 10,
        "99457": 20,
        "99458": 40,
    }
    assert result.close is close


def test_only_the_billing_practitioners_minutes_count():
    entries = [
        entry(15, day=date(2026, 12, 3), who=1),
        entry(8, day=date(2026, 12, 4), who=2, interactive=False),
        entry(5, day=date(2026, 11, 30), who=2),  # last month
    ]
    result = standing(
        start=START, readings=reading_days(16), entries=entries, today=date(2026, 12, 10)
    )
    assert (result.minutes, result.minutes_logged, result.interactive) == (15, 23, True)


# --- Close to a threshold: the page --------------------------------------------------------


def monitor(patient, clinician, *, start: date):
    rpm_services.enroll(
        patient=patient, program="hypertension", clinicians=[clinician], by=clinician
    )
    Enrollment.objects.filter(patient=patient).update(start_date=start)
    device, _token = rpm_services.device_create(patient=patient, kind="bp_cuff", by=clinician)
    return device


def readings_on(patient, device, days):
    zone = patient.practice.zone
    Reading.objects.bulk_create(
        Reading(
            patient=patient,
            device=device,
            vital="heart_rate",
            value=70,
            # 23:30 local: the next day in UTC, so a UTC date would count the wrong day.
            measured_at=datetime.combine(day, time(23, 30), zone),
        )
        for day in days
    )


@pytest.fixture
def due_world(world):
    """Period 1 of each patient ends in 4 days: 5 days left counting today (no reading yet).
    Pat Alpha has 14 days with readings (close), Other Alpha 16 (met); Pat Beta, in another
    practice, 14 (close, but not ours)."""
    today = timezone.localdate(timezone=world.practice.zone)
    start = today - timedelta(days=25)
    for patient, clinician, count in (
        (world.patient, world.clinician, 14),
        (world.other_patient, world.clinician, 16),
        (world.outside_patient, world.outside_clinician, 14),
    ):
        device = monitor(patient, clinician, start=start)
        readings_on(patient, device, [start + timedelta(days=n) for n in range(count)])
    world.today = today
    return world


@pytest.mark.django_db
def test_monitoring_due_lists_the_patient_close_to_a_threshold(due_world):
    rows = worklists.monitoring_due(user=due_world.clinician)
    shown = {row.patient.legal_name: row.standing for row in rows}
    assert set(shown) <= {"Pat Alpha", "Other Alpha"}
    alpha = shown["Pat Alpha"]
    assert (alpha.days_with_readings, alpha.days_left) == (14, 5)
    assert alpha.next_supply is not None and alpha.next_supply.code == "99454"
    assert alpha.next_supply.days_needed == 2
    # Other Alpha's supply is met; with no minutes logged she is close to 99470's ten minutes
    # only in the last week of the month.
    month_days_left = (month_window(due_world.today)[1] - due_world.today).days + 1
    assert ("Other Alpha" in shown) == (month_days_left <= DUE_WINDOW.month_ends_within)
    if "Other Alpha" in shown:
        assert shown["Other Alpha"].next_supply is None
        assert any(t.close for t in shown["Other Alpha"].management)


@pytest.mark.django_db
def test_the_monitoring_due_page_links_to_the_patient_and_is_audited(client, due_world):
    sign_in(client, due_world.clinician)
    response = client.get(reverse("billing:monitoring-due"))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("rpm:patient", args=[due_world.patient.pk]) in html
    assert "2 more days needed" in html
    assert "Pat Beta" not in html
    assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(
        action=Action.VIEW, patient=due_world.patient, actor=due_world.clinician
    ).exists()


@pytest.mark.django_db
def test_an_admin_sees_the_practices_patients_and_no_other(due_world):
    names = {row.patient.legal_name for row in worklists.monitoring_due(user=due_world.admin)}
    assert "Pat Alpha" in names and "Pat Beta" not in names


@pytest.mark.django_db
def test_a_clinician_sees_only_the_patients_they_monitor(due_world):
    assert worklists.monitoring_due(user=due_world.other_clinician) == []


# --- Billing's panel on rpm's patient page -------------------------------------------------


@pytest.mark.django_db
def test_the_rpm_patient_page_shows_billings_view_of_the_period(client, due_world):
    sign_in(client, due_world.clinician)
    html = client.get(reverse("rpm:patient", args=[due_world.patient.pk])).content.decode()
    assert "Billing this period" in html
    assert "Period 1:" in html
    assert "2 more days needed" in html


@pytest.mark.django_db
def test_the_rpm_patient_page_works_without_billings_panel(client, due_world):
    panels.unregister(rpm_patient_panel)
    try:
        sign_in(client, due_world.clinician)
        response = client.get(reverse("rpm:patient", args=[due_world.patient.pk]))
    finally:
        panels.register(rpm_patient_panel)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Billing this period" not in html
    assert "Log time" in html


@pytest.mark.django_db
def test_the_panel_is_absent_for_a_patient_not_monitored(client, world):
    sign_in(client, world.clinician)
    html = client.get(reverse("rpm:patient", args=[world.patient.pk])).content.decode()
    assert "Billing this period" not in html


# --- Access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("billing:totals", {"clinician", "front_desk", "practice_admin"}),
        ("billing:encounters-csv", {"front_desk", "practice_admin"}),
        ("billing:monitoring-due", {"clinician", "practice_admin"}),
    ],
)
@pytest.mark.django_db
def test_who_may_open_each_worklist(client, world, name, allowed):
    for role in ("patient", "clinician", "front_desk", "practice_admin"):
        sign_in(client, world.user_for(role))
        status = client.get(reverse(name)).status_code
        assert status == (200 if role in allowed else 403), (role, status)
    client.logout()
    assert client.get(reverse(name)).status_code == 302


@pytest.mark.django_db
def test_monitoring_due_costs_the_same_queries_for_one_patient_or_many(due_world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            worklists.monitoring_due(user=due_world.clinician)
        return len(captured)

    few = queries()
    start = due_world.today - timedelta(days=25)
    for n in range(3):
        patient = make_patient(due_world.practice, f"More {n}", f"more{n}@alpha.test", login=False)
        device = monitor(patient, due_world.clinician, start=start)
        readings_on(patient, device, [start + timedelta(days=d) for d in range(14)])
    assert len(worklists.monitoring_due(user=due_world.clinician)) >= 4
    assert queries() == few
