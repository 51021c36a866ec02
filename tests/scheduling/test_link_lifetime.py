"""An appointment's manage and join links live as long as the appointment, not a fixed number
of days from signing: the confirmation of a visit booked far ahead still works on the day."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scheduling.links import JOIN, JOIN_GRACE, MANAGE
from telehealth import links
from tests.scheduling.conftest import video_visit_at as appointment_at


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def signed_days_ago(monkeypatch, name: str, obj, days: int) -> str:
    signed_at = time.time() - days * 86400
    with monkeypatch.context() as past:
        past.setattr(time, "time", lambda: signed_at)
        return links.token_for(name, obj)


def test_links_signed_at_booking_a_year_ahead_still_open_on_the_day(world, video_type, monkeypatch):
    appointment = appointment_at(world, video_type, timezone.now() + timedelta(minutes=5))
    manage = signed_days_ago(monkeypatch, MANAGE, appointment, 400)
    join = signed_days_ago(monkeypatch, JOIN, appointment, 400)
    assert links.read(MANAGE, manage) == appointment
    assert Client().get(reverse("scheduling:manage", args=[manage])).status_code == 200
    page = Client().get(reverse("visits:join", args=[join]))
    assert page.status_code == 200
    assert b'name="date_of_birth"' in page.content


def test_the_join_link_still_ends_with_the_visit(world, video_type, monkeypatch):
    appointment = appointment_at(
        world, video_type, timezone.now() - JOIN_GRACE - timedelta(hours=1)
    )
    join = signed_days_ago(monkeypatch, JOIN, appointment, 1)
    assert Client().get(reverse("visits:join", args=[join])).status_code == 410
