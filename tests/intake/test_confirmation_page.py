"""The booking confirmation page (the manage link) says which forms are waiting, with a link
that opens them, and how joining the video visit works, with a join link that opens."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from intake import services
from intake.models import ConsentDocument, Form
from scheduling.models import Appointment, AppointmentType, Modality
from tests.intake.test_intake import history_answers
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data, details_url


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def with_forms(world, video_type):
    services.install_builtin(world.practice)
    Form.objects.get(practice=world.practice, slug="medical-history").appointment_types.add(
        video_type
    )


def _book(client: Client, world, appointment_type: AppointmentType, **overrides: str) -> str:
    """Book through the public form and answer the confirmation page it lands on."""
    start = local(3, 10)
    booked = client.post(
        details_url(world, appointment_type, start),
        booking_data(appointment_type, start, type=appointment_type.slug, **overrides),
    )
    assert booked.status_code == 302, booked.content
    page = client.get(booked["Location"])
    assert page.status_code == 200
    return page.content.decode()


def _href(page: str, label: str) -> str:
    found = re.search(r'href="([^"]+)"[^>]*>' + re.escape(label), page)
    assert found, f"no link labelled {label!r}"
    return found.group(1).replace("&amp;", "&")


def test_confirmation_lists_the_forms_waiting_with_a_link_that_opens_them(
    client, world, video_type, with_forms
):
    page = _book(client, world, video_type)
    assert "Forms waiting for you" in page
    assert "Medical history" in page
    for document in ConsentDocument.objects.filter(practice=world.practice):
        assert document.title in page
    link = _href(page, "Fill in your forms")
    stranger = Client()
    assert stranger.get(link).status_code == 200
    opened = stranger.post(link, {"date_of_birth": "1990-05-04"})
    assert opened["Location"] == reverse("intake:mine")
    assert "Medical history" in stranger.get(opened["Location"]).content.decode()


def test_confirmation_leaves_out_forms_already_done(client, world, video_type, with_forms):
    patient = world.patient
    form = Form.objects.get(practice=world.practice, slug="medical-history")
    response = services.response_for(patient=patient, form=form)
    services.response_save(response=response, raw=history_answers(), complete=True)
    page = _book(
        client,
        world,
        video_type,
        legal_name=patient.legal_name,
        date_of_birth="1980-01-02",
        phone="+16175550123",
        email="pat@alpha.test",
    )
    assert Appointment.objects.get().patient == patient
    assert "Forms waiting for you" in page  # the consent is still unsigned
    assert "Medical history" not in page
    for document in ConsentDocument.objects.filter(practice=world.practice):
        version = document.current
        assert version is not None
        services.consent_sign(patient=patient, consent=version, signer_name="Pat Alpha")
    again = client.get(reverse("scheduling:manage", args=[_token(page)]))
    assert "Forms waiting for you" not in again.content.decode()


def _token(page: str) -> str:
    found = re.search(r'action="/[^"]*?/([^/"]+)/waitlist/"', page)
    assert found, "no waitlist form on the page"
    return found.group(1)


def test_confirmation_explains_how_to_join_with_a_join_link_that_opens(client, world, video_type):
    page = _book(client, world, video_type)
    assert "How to join your video visit" in page
    assert "waiting room" in page
    join = client.get(_href(page, "Open the join page"))
    assert join.status_code == 200
    # Days ahead: the join page counts down to the waiting room's opening.
    assert "The waiting room opens on" in join.content.decode()


def test_an_in_person_visit_has_no_join_explanation(client, world, video_type):
    video_type.modality = Modality.IN_PERSON
    video_type.save(update_fields=["modality"])
    page = _book(client, world, video_type)
    assert "How to join" not in page
    assert "Open the join page" not in page
