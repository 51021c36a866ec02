"""Pages that list appointments with a link per row (the staff schedule, today's visits, the
patient's appointments) read every row's link version in one query: more rows, no more
queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment
from telehealth import links
from tests.conftest import sign_in
from tests.scheduling.conftest import video_visit_at

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
def test_more_rows_cost_no_more_link_queries(client, world, video_type, role, url_name, about):
    sign_in(client, world.patient.user if role == "patient" else getattr(world, role))
    url = reverse(url_name)
    add_video_visits(world, video_type, 1)
    one = queries(client, url, about)
    add_video_visits(world, video_type, 4)
    five = queries(client, url, about)
    assert five == one, f"{one} queries for one visit, {five} for five"


def test_tokens_for_many_objects_match_one_by_one_with_one_query(world, video_type):
    add_video_visits(world, video_type, 3)
    appointments = list(Appointment.objects.all())
    links.revoke(JOIN, appointments[0])
    for kind in (JOIN, MANAGE):
        with CaptureQueriesContext(connection) as captured:
            tokens = links.tokens_for(kind, appointments)
        assert len(captured.captured_queries) == 1
        assert tokens == {a.pk: links.token_for(kind, a) for a in appointments}
