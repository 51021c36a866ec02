"""The date-of-birth check of no-login links counts wrong answers once per patient, over
every kind of link: guesses spread over the intake link and a visit's join link add up.
The links are taken from what the patient was sent, as a guesser would have them."""

import re
from datetime import timedelta
from unittest import mock
from urllib.parse import urlparse

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from intake import services as intake
from intake.models import Form
from scheduling.models import Appointment
from scheduling.reminders import context_for
from telehealth.links import DOB_WINDOW_SECONDS
from telehealth.notify.models import OutboundMessage
from tests.clock import window_start
from tests.visits.test_consumers import make_visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

RIGHT = {"date_of_birth": "1980-01-02"}  # the world's patients were born on this day


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()  # the counters are keyed by patient id, which tests reuse


@pytest.fixture(autouse=True)
def one_window():
    """Each test's attempts fall in one window of the counter: the windows are aligned to the
    clock, and attempts straddling an edge would be counted apart (as they rightly are)."""
    middle = window_start(DOB_WINDOW_SECONDS) + DOB_WINDOW_SECONDS / 2
    with mock.patch("time.time", return_value=middle):
        yield


def sent_links(world, video_type, patient) -> tuple[str, str]:
    """The intake link and the visit's join link the patient was sent."""
    intake.install_builtin(world.practice)
    Form.objects.get(practice=world.practice, slug="medical-history").appointment_types.add(
        video_type
    )
    visit = make_visit(world, video_type, patient=patient)
    intake.request_forms()
    request = OutboundMessage.objects.filter(template="intake.request", patient=patient).first()
    assert request is not None
    found = re.search(r"/intake/start/[^/\s]+/", request.body)
    assert found is not None
    intake_path = found.group(0)
    join_path = urlparse(context_for(visit.appointment)["join_link"]).path
    return intake_path, join_path


def wrong(n: int) -> dict[str, str]:
    return {"date_of_birth": f"1990-01-0{n + 1}"}


def test_wrong_dates_on_the_intake_link_and_the_visit_link_share_one_counter(world, video_type):
    intake_link, join_link = sent_links(world, video_type, world.patient)
    for n in range(5):  # alternating links, a fresh session each time
        link = (intake_link, join_link)[n % 2]
        assert Client().post(link, wrong(n)).status_code == 400
    for link in (join_link, intake_link):
        locked = Client().post(link, RIGHT)
        assert locked.status_code == 429
        assert b"Too many attempts" in locked.content
        assert Client().get(link).status_code == 429


def test_another_patients_links_keep_their_own_count(world, video_type):
    intake_link, join_link = sent_links(world, video_type, world.patient)
    for n in range(5):
        Client().post((intake_link, join_link)[n % 2], wrong(n))
    other_intake, other_join = sent_links(world, video_type, world.other_patient)
    # Its forms asked for, the visit moves to have ended just now: its waiting room is open
    # (within the link's grace), and the provider is not double-booked.
    now = timezone.now()
    Appointment.objects.filter(patient=world.other_patient).update(
        start=now - timedelta(minutes=20),
        end=now,
        blocked_start=now - timedelta(minutes=20),
        blocked_end=now,
    )
    assert Client().post(other_join, RIGHT).status_code == 302
    assert Client().post(other_intake, RIGHT).status_code == 302


def test_a_right_answer_gives_its_try_back_on_every_link(world, video_type):
    intake_link, join_link = sent_links(world, video_type, world.patient)
    for n in range(4):
        assert Client().post((intake_link, join_link)[n % 2], wrong(n)).status_code == 400
    assert Client().post(intake_link, RIGHT).status_code == 302
    assert Client().post(join_link, RIGHT).status_code == 302
    assert Client().post(join_link, wrong(4)).status_code == 400
    assert Client().post(intake_link, RIGHT).status_code == 429
