"""The clinician's and front desk's home pages: each app's panel shows its own data to the
people it is for, scoped by that app's selectors, with a real empty state, at a query count
that does not grow with the rows shown."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import services as messaging_services
from rpm import services as rpm_services
from rpm.models import Alert
from scheduling.models import Appointment
from scheduling.selectors import day_bounds
from telehealth.accounts.models import Provider
from tests.conftest import sign_in
from visits import services as visit_services
from visits.models import Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def today_at(practice, hour: int):
    """A moment of today in the practice's own day (not the test machine's)."""
    zone = practice.zone
    start, _ = day_bounds(timezone.localtime(timezone.now(), zone).date(), zone)
    return start + timedelta(hours=hour)


def book(provider, patient, kind, hour: int, *, modality: str = "video") -> Appointment:
    start = today_at(patient.practice, hour)
    return Appointment.objects.create(
        practice=patient.practice,
        provider=provider,
        patient=patient,
        appointment_type=kind,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality=modality,
        booked_via="staff",
    )


def waiting(appointment: Appointment) -> Visit:
    visit = visit_services.visit_for_appointment(appointment)
    Visit.objects.filter(pk=visit.pk).update(
        state=Visit.State.WAITING, waiting_since=timezone.now() - timedelta(minutes=4)
    )
    return visit


def outside_provider(world) -> Provider:
    return Provider.objects.create(
        user=world.outside_clinician,
        practice=world.outside_practice,
        slug="beta-doc",
        display_name="Dr Beta",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )


def alert(patient, severity: str, summary: str, *, minutes_ago: int = 0) -> Alert:
    return Alert.objects.create(
        patient=patient,
        rule=Alert.Rule.THRESHOLD,
        vital="systolic",
        episode=f"{severity}-{summary}",
        severity=severity,
        summary=summary,
        opened_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def thread(patient, subject: str, *, assignee=None, by=None):
    started, _ = messaging_services.thread_start(patient=patient, subject=subject, body="Hello")
    if assignee is not None:
        messaging_services.assign(thread=started, by=by, assignee=assignee, team=None)
    return started


def home(client, user) -> str:
    response = sign_in(client, user).get("/")
    assert response.status_code == 200
    return response.content.decode()


# --- The schedule panel -------------------------------------------------------------------


def test_clinician_sees_their_own_visits_today_with_the_waiting_room(client, world, video_type):
    mine = book(world.clinician.provider, world.patient, video_type, 9)
    waiting(mine)
    book(world.clinician.provider, world.other_patient, video_type, 10)
    page = home(client, world.clinician)
    assert "Your visits today" in page
    assert "Pat Alpha" in page and "Other Alpha" in page
    assert "Video visit" in page
    assert "Waiting 4\xa0minutes" in page
    assert "Not arrived" in page
    assert 'href="/visits/"' in page
    assert "will appear here" not in page


def test_clinician_schedule_leaves_out_other_clinicians_and_other_days(client, world, video_type):
    second = Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="doc2",
        display_name="Dr Second",
        npi="1234567885",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    book(second, world.other_patient, video_type, 9)
    tomorrow = book(world.clinician.provider, world.patient, video_type, 9 + 24)
    assert tomorrow.start > timezone.now()
    page = home(client, world.clinician)
    assert "Other Alpha" not in page
    assert "Pat Alpha" not in page
    assert "No visits today." in page


def test_front_desk_sees_the_practice_day_and_who_is_waiting(client, world, video_type):
    waiting(book(world.clinician.provider, world.patient, video_type, 9))
    book(world.clinician.provider, world.other_patient, video_type, 10)
    waiting(book(outside_provider(world), world.outside_patient, video_type, 9))
    page = home(client, world.front_desk)
    assert "Today at the practice" in page
    assert "2 visits today" in page
    assert "Pat Alpha" in page
    assert "Waiting 4\xa0minutes" in page
    assert "Other Alpha" not in page  # booked, not waiting
    assert "Pat Beta" not in page
    assert 'href="/visits/"' in page


def test_walk_ins_show_on_both_homes(client, world):
    Visit.objects.create(
        practice=world.practice,
        patient=world.other_patient,
        state=Visit.State.WAITING,
        waiting_since=timezone.now() - timedelta(minutes=2),
    )
    Visit.objects.create(
        practice=world.outside_practice,
        patient=world.outside_patient,
        state=Visit.State.WAITING,
        waiting_since=timezone.now(),
    )
    assert "1 walk-in patient asking to be seen now" in home(client, world.clinician)
    page = home(client, world.front_desk)
    assert "Other Alpha" in page and "Walk-in" in page
    assert "Pat Beta" not in page


def test_schedule_panels_have_empty_states(client, world):
    assert "No visits today." in home(client, world.clinician)
    page = home(client, world.front_desk)
    assert "0 visits today" in page
    assert "No one is waiting." in page


# --- The alerts panel ---------------------------------------------------------------------


@pytest.fixture
def alerts(world):
    rpm_services.enroll(
        patient=world.patient,
        program="hypertension",
        clinicians=[world.clinician],
        by=world.clinician,
    )
    rpm_services.enroll(
        patient=world.outside_patient,
        program="hypertension",
        clinicians=[world.outside_clinician],
        by=world.outside_clinician,
    )
    return [
        alert(world.patient, "warning", "Blood pressure 150/95 mmHg", minutes_ago=1),
        alert(world.patient, "critical", "Blood pressure 212/96 mmHg", minutes_ago=30),
        alert(world.outside_patient, "critical", "Blood pressure 230/120 mmHg"),
    ]


def test_clinician_sees_open_alerts_of_their_patients_critical_first(client, world, alerts):
    page = home(client, world.clinician)
    assert "Monitoring alerts" in page
    critical = page.index("212/96")
    assert critical < page.index("150/95")  # critical, though older, comes first
    assert f'href="/rpm/patients/{world.patient.pk}/"' in page
    assert 'href="/rpm/"' in page
    assert "230/120" not in page  # another practice's patient
    # The panel is re-read when a live alert arrives (static/js/alerts.js).
    assert 'id="home-alerts" data-live-refresh' in page


def test_resolved_alerts_leave_the_panel(client, world, alerts):
    Alert.objects.filter(summary__contains="212/96").update(status=Alert.Status.RESOLVED)
    page = home(client, world.clinician)
    assert "212/96" not in page
    assert "150/95" in page


def test_clinician_not_monitoring_the_patient_sees_no_alert(client, world, alerts):
    page = home(client, world.other_clinician)
    assert "150/95" not in page and "212/96" not in page
    assert "No open alerts." in page


def test_front_desk_never_sees_alerts_or_values(client, world, alerts):
    page = home(client, world.front_desk)
    assert "Monitoring alerts" not in page
    for value in ("150/95", "212/96", "230/120", "mmHg"):
        assert value not in page


def test_alerts_panel_says_how_many_more_there_are(client, world, alerts):
    for n in range(5):
        alert(world.patient, "warning", f"Weight {90 + n} kg", minutes_ago=60 + n)
    page = home(client, world.clinician)
    assert "See all 7 alerts" in page
    assert "212/96" in page and "Weight 94 kg" not in page  # five shown, the oldest left out


# --- The messages panel -------------------------------------------------------------------


def test_clinician_sees_open_threads_assigned_to_them(client, world):
    thread(world.patient, "Refill of lisinopril", assignee=world.clinician, by=world.front_desk)
    thread(world.other_patient, "Billing question", assignee=world.front_desk, by=world.front_desk)
    closed = thread(world.patient, "Old question", assignee=world.clinician, by=world.front_desk)
    messaging_services.set_status(thread=closed, by=world.clinician, status="closed")
    page = home(client, world.clinician)
    assert "Messages for you" in page
    assert "Refill of lisinopril" in page
    assert "Billing question" not in page
    assert "Old question" not in page
    assert 'href="/messaging/inbox/?view=mine"' in page


def test_front_desk_sees_the_shared_inbox_counts_and_newest_unassigned(client, world):
    thread(world.patient, "Can I move my visit?")
    thread(world.other_patient, "Refill of lisinopril", assignee=world.clinician, by=world.admin)
    thread(world.outside_patient, "Beta practice question")
    page = home(client, world.front_desk)
    assert "Shared inbox" in page
    assert "2 open conversations" in page
    assert "1 unassigned" in page
    assert "Can I move my visit?" in page
    assert "Refill of lisinopril" not in page  # has an owner
    assert "Beta practice question" not in page
    assert 'href="/messaging/inbox/?view=unassigned"' in page


def test_message_panels_have_empty_states(client, world):
    assert "No open conversations are assigned to you." in home(client, world.clinician)
    page = home(client, world.front_desk)
    assert "0 open conversations" in page
    assert "Every open conversation has someone on it." in page


def test_staff_homes_no_longer_promise_panels(client, world):
    for user in (world.clinician, world.front_desk):
        assert "will appear here" not in home(client, user)


def test_patient_and_admin_homes_get_no_staff_panels(client, world, video_type, alerts):
    thread(world.patient, "Can I move my visit?")
    for user in (world.patient.user, world.admin):
        page = home(client, user)
        for text in ("Your visits today", "Monitoring alerts", "Shared inbox", "212/96"):
            assert text not in page


# --- Bounded queries ----------------------------------------------------------------------


def fill(world, video_type, n: int) -> None:
    """n more of everything both homes show: visits (one waiting), alerts, threads."""
    patients = [world.patient, world.other_patient]
    base = Appointment.objects.count()
    for i in range(n):
        patient = patients[i % 2]
        appointment = book(world.clinician.provider, patient, video_type, 8 + base + i)
        waiting(appointment)
        alert(patient, "critical" if i % 2 else "warning", f"Reading {base + i}")
        thread(patient, f"Question {base + i}", assignee=world.clinician, by=world.front_desk)
        thread(patient, f"Unowned {base + i}")


def queries_for(client) -> int:
    # Not the first request after sign-in, which may read the user into the process's cache.
    assert client.get("/").status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", ["clinician", "front_desk"])
def test_home_query_count_does_not_grow_with_rows(client, world, video_type, role):
    for patient in (world.patient, world.other_patient):
        rpm_services.enroll(
            patient=patient,
            program="hypertension",
            clinicians=[world.clinician],
            by=world.clinician,
        )
    sign_in(client, getattr(world, role))
    # Past each panel's limit, so both counts include the "how many in all" queries.
    fill(world, video_type, 9)
    few = queries_for(client)
    fill(world, video_type, 6)
    many = queries_for(client)
    assert many == few
