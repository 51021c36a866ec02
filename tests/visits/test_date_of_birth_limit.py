"""The visit links' date-of-birth check is limited per patient, across sessions: a new
browser cookie for each guess does not buy more guesses."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from scheduling.links import JOIN
from telehealth import links
from tests.visits.test_consumers import make_visit
from tests.visits.test_record_and_summary import finished, summary_link
from visits import services


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def guess_five_times_from_fresh_sessions(url: str) -> None:
    for n in range(5):
        wrong = Client().post(url, {"date_of_birth": f"1990-01-0{n + 1}"})
        assert wrong.status_code == 400


def test_guessing_the_join_links_date_of_birth_from_many_sessions_is_stopped(world, video_type):
    visit = make_visit(world, video_type)
    url = f"/visit/{links.token_for(JOIN, visit.appointment)}/"
    guess_five_times_from_fresh_sessions(url)
    locked = Client().post(url, {"date_of_birth": "1980-01-02"})
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    # Ends as the first visit (in five minutes) is about to start: its waiting room is open,
    # and the provider is not double-booked.
    started = timezone.now() - timedelta(minutes=20)
    other = make_visit(world, video_type, patient=world.other_patient, start=started)
    other_url = f"/visit/{links.token_for(JOIN, other.appointment)}/"
    assert Client().post(other_url, {"date_of_birth": "1980-01-02"}).status_code == 302


def test_guessing_the_summary_links_date_of_birth_from_many_sessions_is_stopped(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    finished(world, services.admit(visit=visit, by=world.clinician))
    url = summary_link(visit)
    guess_five_times_from_fresh_sessions(url)
    client = Client()
    locked = client.post(url, {"date_of_birth": "1980-01-02"})
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    assert client.get(f"/visits/{visit.pk}/summary/").status_code == 404


def test_right_answers_do_not_use_up_the_tries(world, video_type):
    visit = make_visit(world, video_type)
    url = f"/visit/{links.token_for(JOIN, visit.appointment)}/"
    for _ in range(6):  # the patient opens the link on several devices
        assert Client().post(url, {"date_of_birth": "1980-01-02"}).status_code == 302
    guess_five_times_from_fresh_sessions(url)
    assert Client().post(url, {"date_of_birth": "1980-01-02"}).status_code == 429
