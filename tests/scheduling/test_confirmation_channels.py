"""The appointment page's booked notice says where the confirmation went: by email, by text,
both, or, for a patient we cannot reach, that this page is the one to keep."""

import pytest
from django.test import Client
from django.urls import reverse

from scheduling import services
from scheduling.links import MANAGE
from scheduling.models import BookedVia
from telehealth import links
from tests.conftest import make_patient
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

NOTICES = {
    "both": "A confirmation is on its way by email and text message.",
    "email": "A confirmation is on its way to your email.",
    "text": "A confirmation is on its way by text message.",
    "neither": "bookmark this page",
}


@pytest.mark.parametrize(
    ("email", "sms_consent", "notice"),
    [
        ("nora@example.com", True, "both"),
        ("nora@example.com", False, "email"),
        ("", True, "text"),
        ("", False, "neither"),
    ],
)
def test_the_booked_notice_names_the_channels_the_confirmation_went_by(
    client: Client, world, video_type, email, sms_consent, notice
):
    patient = make_patient(world.practice, "Nora New", email, login=False, sms_consent=sms_consent)
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=world.front_desk,
        via=BookedVia.STAFF,
    )
    token = links.token_for(MANAGE, appointment)
    page = client.get(reverse("scheduling:manage", args=[token])).content.decode()
    assert [kind for kind, words in NOTICES.items() if words in page] == [notice]
