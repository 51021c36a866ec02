"""Pages that list appointments with a link per row (the staff schedule, today's visits, the
patient's appointments) read every row's link version in one query: more rows, no more
queries."""

from datetime import timedelta
from itertools import takewhile

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling import patient_page
from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment
from telehealth import links
from tests.conftest import sign_in
from tests.scheduling.conftest import video_visit_at


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def add_video_visits(world, video_type, count: int) -> None:
    # Later today in the practice's day, clear of each other.
    base = timezone.now() + timedelta(minutes=30)
    taken = Appointment.objects.count()
    for n in range(taken, taken + count):
        start = base + timedelta(minutes=25 * n)
        video_visit_at(world, video_type, start)


def queries(client, url: str, about: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        page = client.get(url)
    assert page.status_code == 200
    return sum(about in query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize(
    ("role", "url_name", "about"),
    [
        ("front_desk", "scheduling:schedule", ""),
        ("patient", "scheduling:mine", ""),
        # Today's rows also read each patient's intake status (one set of queries per row).
        ("front_desk", "visits:today", "linkversion"),
    ],
)
@pytest.mark.usefixtures("without_session_cache")
def test_more_rows_cost_no_more_link_queries(client, world, video_type, role, url_name, about):
    sign_in(client, world.patient.user if role == "patient" else getattr(world, role))
    url = reverse(url_name)
    # From two rows: an audit event about one record carries it on the event itself, one
    # about several lists them in one more statement.
    add_video_visits(world, video_type, 2)
    two = queries(client, url, about)
    add_video_visits(world, video_type, 3)
    five = queries(client, url, about)
    assert five == two, f"{two} queries for two visits, {five} for five"


def test_tokens_for_many_objects_match_one_by_one_with_one_query(world, video_type):
    add_video_visits(world, video_type, 3)
    appointments = list(Appointment.objects.all())
    links.revoke(JOIN, appointments[0])
    for kind in (JOIN, MANAGE):
        with CaptureQueriesContext(connection) as captured:
            tokens = links.tokens_for(kind, appointments)
        assert len(captured.captured_queries) == 1
        # Tokens carry the second they were signed in: compare what they say, not their text.
        salt = links.get(kind).salt
        assert {pk: signing.loads(token, salt=salt) for pk, token in tokens.items()} == {
            a.pk: signing.loads(links.token_for(kind, a), salt=salt) for a in appointments
        }


def add_past_and_upcoming(world, video_type, count: int) -> None:
    add_video_visits(world, video_type, count)
    for n in range(count):
        appointment = video_visit_at(world, video_type, timezone.now() - timedelta(days=1 + n))
        Appointment.objects.filter(pk=appointment.pk).update(status="completed")


@pytest.mark.usefixtures("without_session_cache")
def test_the_patients_appointments_page_costs_the_same_for_3_or_60_visits(
    client, world, video_type
):
    """Session, user (with their patient record), then upcoming and past with every link
    version in one UNION (on SQLite, which cannot limit each part of one, two queries): the
    patient's own record is not read again per row, nor anything else; and each list is one
    bounded page, so a long history adds neither queries nor rows (the audit of the read is
    counted apart: it has its own rules)."""
    sign_in(client, world.patient.user)
    url = reverse("scheduling:mine")
    add_past_and_upcoming(world, video_type, 3)
    client.get(url)
    with CaptureQueriesContext(connection) as three:
        page = client.get(url)
    assert page.status_code == 200
    assert page.content.decode().count('class="appointment-list__item"') == 6
    add_past_and_upcoming(world, video_type, 27)
    with CaptureQueriesContext(connection) as thirty:
        page = client.get(url)
    shown = page.content.decode().count('class="appointment-list__item"')
    assert shown == patient_page.UPCOMING_PAGE + patient_page.PAST_PAGE
    assert len(thirty.captured_queries) == len(three.captured_queries)
    # The page's reads come before the audit: on PostgreSQL one call of `audit_append`,
    # elsewhere the chain's tail and the inserts.
    reads = list(
        takewhile(
            lambda q: "audit_append(" not in q["sql"] and "audit_audit" not in q["sql"],
            thirty.captured_queries,
        )
    )
    one_union = connection.features.supports_slicing_ordering_in_compound
    assert len(reads) == (3 if one_union else 4), [q["sql"][:80] for q in reads]
    assert not [q for q in reads if q["sql"].startswith('SELECT "accounts_linkversion"')]
