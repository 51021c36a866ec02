"""The visit's one join link: the same address from booking until JOIN_GRACE after the end.
Before the waiting room opens it counts down and records nothing; then the date-of-birth check
(not for the patient signed in to the portal), then the waiting room."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from scheduling.links import JOIN, JOIN_GRACE, WAITING_ROOM_OPENS
from scheduling.models import Appointment
from telehealth import links
from tests.conftest import sign_in
from tests.scheduling.conftest import video_visit_at as appointment_at
from tests.visits.test_consumers import make_visit
from visits.models import Participant, Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

RIGHT = {"date_of_birth": "1980-01-02"}


def join_url(appointment: Appointment) -> str:
    return f"/visit/{links.token_for(JOIN, appointment)}/"


def test_before_the_room_opens_the_page_counts_down_and_records_no_arrival(world, video_type):
    start = timezone.now() + timedelta(hours=2, minutes=20, seconds=30)
    appointment = appointment_at(world, video_type, start)
    client = Client()
    page = client.get(join_url(appointment))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Dr Alpha" in text
    # "opens at 3:15 p.m." today, "opens on Saturday 5 December at 12:17 a.m." past midnight
    assert "The waiting room opens " in text
    assert "(in 2\xa0hours, 5\xa0minutes)" in text
    assert 'data-reload-in="300"' in text  # far off: looks again every five minutes
    assert 'src="/static/js/join-countdown.js"' in text
    assert "date_of_birth" not in text  # no form yet
    # A date of birth sent early opens nothing and marks no one as waiting.
    assert client.post(join_url(appointment), RIGHT).status_code == 200
    assert not Visit.objects.filter(appointment=appointment).exists()
    assert not Participant.objects.exists()


def test_the_countdown_shows_the_time_in_the_practices_zone(world, video_type):
    start = timezone.now() + timedelta(days=3)
    appointment = appointment_at(world, video_type, start)
    text = Client().get(join_url(appointment)).content.decode()
    opens = timezone.localtime(start - WAITING_ROOM_OPENS, world.practice.zone)
    assert "The waiting room opens on" in text
    assert opens.strftime("%A") in text
    assert "Eastern Time — New York (UTC" in text


def test_the_page_reloads_itself_when_the_room_opens(world, video_type):
    start = timezone.now() + WAITING_ROOM_OPENS + timedelta(minutes=2)
    text = Client().get(join_url(appointment_at(world, video_type, start))).content.decode()
    assert 'data-reload-in="12' in text  # about 120 seconds: at the opening, not later


def test_a_signed_in_patient_waits_before_the_room_opens_too(client, world, video_type):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(days=1))
    sign_in(client, world.patient.user)
    page = client.get(join_url(appointment))
    assert page.status_code == 200
    assert "The waiting room opens" in page.content.decode()
    assert not Visit.objects.exists()


def test_once_open_the_same_link_asks_for_the_date_of_birth_then_the_waiting_room(
    world, video_type
):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(minutes=10))
    client = Client()
    page = client.get(join_url(appointment))
    assert page.status_code == 200
    assert "Continue to the waiting room" in page.content.decode()
    entered = client.post(join_url(appointment), RIGHT)
    visit = Visit.objects.get(appointment=appointment)
    assert entered.status_code == 302 and entered["Location"] == f"/visits/{visit.pk}/waiting/"
    assert visit.state == Visit.State.WAITING


def test_the_patient_signed_in_to_the_portal_skips_the_date_of_birth(client, world, video_type):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(minutes=10))
    sign_in(client, world.patient.user)
    entered = client.get(join_url(appointment))
    visit = Visit.objects.get(appointment=appointment)
    assert entered.status_code == 302 and entered["Location"] == f"/visits/{visit.pk}/waiting/"
    assert client.get(entered["Location"]).status_code == 200


def test_another_signed_in_patient_still_gets_the_date_of_birth_check(client, world, video_type):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(minutes=10))
    sign_in(client, world.other_patient.user)
    page = client.get(join_url(appointment))
    assert page.status_code == 200
    assert "Continue to the waiting room" in page.content.decode()
    assert not Visit.objects.exists()


def test_a_visit_ended_early_answers_410_not_an_error(world, video_type):
    visit = make_visit(world, video_type)
    Visit.objects.filter(pk=visit.pk).update(state=Visit.State.ENDED)
    answer = Client().post(join_url(visit.appointment), RIGHT)
    assert answer.status_code == 410
    assert "This visit has ended." in answer.content.decode()


def test_the_link_ends_its_grace_after_the_visit(world, video_type):
    start = timezone.now() - JOIN_GRACE - timedelta(minutes=25)
    answer = Client().get(join_url(appointment_at(world, video_type, start)))
    assert answer.status_code == 410


def test_staff_following_the_link_get_no_waiting_room(client, world, video_type):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(minutes=10))
    sign_in(client, world.front_desk)
    page = client.get(join_url(appointment))
    assert page.status_code == 200  # the date-of-birth form, as for anyone without the login
    assert not Participant.objects.exists()
