"""A visit type's name reaches the patient in their language: the practice enters a Spanish
name, and Spanish readers see it on the booking pages, the appointment page, the portal, the
confirmation email and its calendar file; without one they see the English name."""

import pytest
from django.core import mail
from django.urls import reverse
from icalendar import Calendar

from scheduling.models import AppointmentType
from tests.conftest import sign_in
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


SPANISH = "Consulta por video"


def spanish_name(video_type: AppointmentType, name: str = SPANISH) -> AppointmentType:
    video_type.name_es = name
    video_type.save(update_fields=["name_es"])
    return video_type


def test_the_booking_page_shows_the_spanish_name_to_a_spanish_reader(client, world, video_type):
    spanish_name(video_type)
    url = reverse("scheduling:book", args=["alpha"])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert f'<span class="choice__title">{SPANISH}</span>' in spanish
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<span class="choice__title">Video visit</span>' in english
    assert SPANISH not in english


def test_without_a_spanish_name_a_spanish_reader_sees_the_english_one(client, world, video_type):
    page = client.get(reverse("scheduling:book", args=["alpha"]), HTTP_ACCEPT_LANGUAGE="es")
    assert '<span class="choice__title">Video visit</span>' in page.content.decode()


def test_a_spanish_booking_gets_the_spanish_name_on_every_page_and_message(
    client, world, video_type, django_capture_on_commit_callbacks
):
    spanish_name(video_type)
    start = local(3, 10)
    details = client.get(
        reverse("scheduling:book-details", args=["alpha"]),
        {"type": "video", "provider": "doc", "start": start.isoformat(), "tz": "America/New_York"},
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert f"{SPANISH} · Dr Alpha" in details.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("scheduling:book-details", args=["alpha"]),
            booking_data(video_type, start),
            HTTP_ACCEPT_LANGUAGE="es",
        )
    assert response.status_code == 302
    confirmation = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert f"<dd>{SPANISH} · " in confirmation
    email = mail.outbox[0]
    assert "Tipo de consulta: " + SPANISH in email.body
    event = Calendar.from_ical(email.attachments[0][1]).walk("VEVENT")[0]
    assert str(event["summary"]) == f"{SPANISH} · Alpha Health"


def test_an_english_booking_email_names_the_english_type(
    client, world, video_type, django_capture_on_commit_callbacks
):
    spanish_name(video_type)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("scheduling:book-details", args=["alpha"]),
            booking_data(video_type, local(3, 10)),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    email = mail.outbox[0]
    assert "Visit type: Video visit" in email.body
    assert SPANISH not in email.body
    event = Calendar.from_ical(email.attachments[0][1]).walk("VEVENT")[0]
    assert str(event["summary"]) == "Video visit · Alpha Health"


def test_a_spanish_booking_without_a_spanish_name_falls_back_to_english(
    client, world, video_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("scheduling:book-details", args=["alpha"]),
            booking_data(video_type, local(3, 10)),
            HTTP_ACCEPT_LANGUAGE="es",
        )
    assert "Tipo de consulta: Video visit" in mail.outbox[0].body


def test_the_spanish_patient_portal_lists_the_spanish_name(client, world, video_type):
    from scheduling import services
    from scheduling.models import BookedVia

    spanish_name(video_type)
    world.patient.preferred_language = "es"
    world.patient.save(update_fields=["preferred_language"])
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.patient.user)
    page = client.get(reverse("scheduling:mine"), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert f"{SPANISH} · Dr Alpha" in page


def test_the_practice_admin_enters_the_spanish_name(client, world, video_type):
    sign_in(client, world.admin)
    url = reverse("admin:scheduling_appointmenttype_change", args=[video_type.pk])
    assert 'name="name_es"' in client.get(url).content.decode()
    response = client.post(
        url,
        {
            "name": "Video visit",
            "name_es": SPANISH,
            "slug": "video",
            "duration_minutes": 20,
            "modality": "video",
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 10,
            "minimum_notice_minutes": 60,
            "booking_horizon_days": 60,
            "bookable_online": "on",
            "is_active": "on",
            "providers": [world.clinician.provider.pk],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    video_type.refresh_from_db()
    assert video_type.name_es == SPANISH
