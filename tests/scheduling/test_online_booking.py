"""The public booking form is one use case: match or register the patient and book, all or
nothing, for the state the patient will be in during the visit."""

import pytest
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, BookedVia
from telehealth.accounts.models import Patient
from tests.conftest import sign_in
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def post_booking(client, video_type, start, **overrides):
    return client.post(
        reverse("scheduling:book-details", args=["alpha"]),
        booking_data(video_type, start, **overrides),
    )


def returning(world, **overrides):
    """The form filled in by world.patient (an MA record) about themselves."""
    return {
        "legal_name": world.patient.legal_name,
        "date_of_birth": world.patient.date_of_birth.isoformat(),
        "phone": world.patient.phone,
        "email": world.patient.email,
        **overrides,
    }


def test_a_booking_refused_for_licensure_leaves_no_new_patient(client, world, video_type):
    patients = Patient.objects.count()
    response = post_booking(client, video_type, local(3, 10), state="TX")
    assert response.status_code == 400
    assert "not licensed in Texas" in response.content.decode()
    assert Patient.objects.count() == patients
    assert not Appointment.objects.exists()


def test_a_booking_of_a_taken_time_leaves_no_new_patient(client, world, video_type):
    start = local(3, 10)
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.other_patient,
        appointment_type=video_type,
        start=start,
        by=world.front_desk,
        via=BookedVia.STAFF,
    )
    patients = Patient.objects.count()
    response = post_booking(client, video_type, start)
    assert response.status_code == 409
    assert Patient.objects.count() == patients
    assert Appointment.objects.count() == 1


def test_a_returning_patient_in_another_state_is_checked_against_that_state(
    client, world, video_type
):
    patients = Patient.objects.count()
    response = post_booking(client, video_type, local(3, 10), **returning(world, state="TX"))
    assert response.status_code == 400
    assert "not licensed in Texas" in response.content.decode()
    assert not Appointment.objects.exists()
    assert Patient.objects.count() == patients


def test_a_returning_patient_in_another_state_books_for_that_state(client, world, video_type):
    provider = world.clinician.provider
    provider.licensed_states = ["TX"]
    provider.save(update_fields=["licensed_states"])
    patients = Patient.objects.count()
    response = post_booking(client, video_type, local(3, 10), **returning(world, state="TX"))
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.patient == world.patient
    assert appointment.patient_state == "TX"
    world.patient.refresh_from_db()
    assert world.patient.state == "MA"  # their home on record is unchanged
    assert Patient.objects.count() == patients


def test_a_rescheduled_visit_keeps_the_state_it_was_booked_for(client, world, video_type):
    provider = world.clinician.provider
    provider.licensed_states = ["TX"]
    provider.save(update_fields=["licensed_states"])
    post_booking(client, video_type, local(3, 10), **returning(world, state="TX"))
    moved = services.appointment_reschedule(
        appointment=Appointment.objects.get(), start=local(4, 10), by=None
    )
    assert moved.patient_state == "TX"


def test_staff_bookings_record_the_patients_state(world, video_type):
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=world.front_desk,
        via=BookedVia.STAFF,
    )
    assert appointment.patient_state == "MA"


def test_the_api_books_for_the_state_the_patient_gives(client, world, video_type):
    sign_in(client, world.patient.user)
    url = reverse("api:appointment_book")
    body = {
        "patient_id": world.patient.pk,
        "provider_id": world.clinician.provider.pk,
        "appointment_type_id": video_type.pk,
        "start": local(3, 10).isoformat(),
    }
    refused = client.post(url, {**body, "patient_state": "TX"}, content_type="application/json")
    assert refused.status_code == 400
    assert "not licensed in Texas" in refused.json()["detail"]
    unknown = client.post(url, {**body, "patient_state": "ZZ"}, content_type="application/json")
    assert unknown.status_code == 400
    booked = client.post(url, {**body, "patient_state": "MA"}, content_type="application/json")
    assert booked.status_code == 201
    assert booked.json()["patient_state"] == "MA"
