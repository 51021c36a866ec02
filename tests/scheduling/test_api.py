import pytest

from scheduling.models import Appointment
from tests.conftest import sign_in
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def book_body(world, video_type, start, patient=None):
    return {
        "patient_id": (patient or world.patient).pk,
        "provider_id": world.clinician.provider.pk,
        "appointment_type_id": video_type.pk,
        "start": start.isoformat(),
    }


def test_slot_search_is_public_and_in_the_asked_zone(client, world, video_type):
    response = client.get(
        "/api/v1/scheduling/slots",
        {
            "practice": "alpha",
            "appointment_type": "video",
            "start": local(2, 0).date(),
            "days": 3,
            "time_zone": "Australia/Sydney",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["time_zone"] == "Australia/Sydney"
    assert len(body["suggested"]) == 3 and len(body["slots"]) > 20


def test_slot_search_rejects_bad_parameters(client, world, video_type):
    base = {"practice": "alpha", "appointment_type": "video", "start": "2030-01-01"}
    assert client.get("/api/v1/scheduling/slots", {**base, "days": 400}).status_code == 400
    assert (
        client.get("/api/v1/scheduling/slots", {**base, "time_zone": "Mars/Base"}).status_code
        == 400
    )
    assert (
        client.get("/api/v1/scheduling/slots", {**base, "appointment_type": "x"}).status_code == 404
    )
    assert client.get("/api/v1/scheduling/slots", {**base, "start": "soon"}).status_code == 422


def test_patient_books_reschedules_and_cancels_through_the_api(client, world, video_type):
    sign_in(client, world.patient.user)
    made = client.post(
        "/api/v1/scheduling/appointments",
        book_body(world, video_type, local(3, 10)),
        content_type="application/json",
    )
    assert made.status_code == 201, made.json()
    appointment_id = made.json()["id"]
    moved = client.post(
        f"/api/v1/scheduling/appointments/{appointment_id}/reschedule",
        {"start": local(3, 11).isoformat()},
        content_type="application/json",
    )
    assert moved.status_code == 200 and moved.json()["replaces_id"] == appointment_id
    gone = client.post(
        f"/api/v1/scheduling/appointments/{moved.json()['id']}/cancel",
        {"reason": "Better now"},
        content_type="application/json",
    )
    assert gone.json()["status"] == "cancelled"
    listed = client.get("/api/v1/scheduling/appointments").json()
    assert [a["status"] for a in listed] == ["rescheduled", "cancelled"]


def test_patient_cannot_book_for_another_patient(client, world, video_type):
    sign_in(client, world.patient.user)
    response = client.post(
        "/api/v1/scheduling/appointments",
        book_body(world, video_type, local(3, 10), world.other_patient),
        content_type="application/json",
    )
    assert response.status_code == 404
    assert Appointment.objects.count() == 0


def test_taken_slot_is_409_and_naive_time_is_400(client, world, video_type):
    sign_in(client, world.front_desk)
    body = book_body(world, video_type, local(3, 10))
    assert (
        client.post(
            "/api/v1/scheduling/appointments", body, content_type="application/json"
        ).status_code
        == 201
    )
    other = book_body(world, video_type, local(3, 10), world.other_patient)
    taken = client.post("/api/v1/scheduling/appointments", other, content_type="application/json")
    assert taken.status_code == 409
    assert "just taken" in taken.json()["detail"]
    naive = {**other, "start": local(3, 12).replace(tzinfo=None).isoformat()}
    assert (
        client.post(
            "/api/v1/scheduling/appointments", naive, content_type="application/json"
        ).status_code
        == 400
    )
    assert Appointment.objects.count() == 1


def test_licensure_refusal_is_a_clear_400(client, world, video_type):
    world.patient.state = "CA"
    world.patient.save(update_fields=["state"])
    sign_in(client, world.front_desk)
    response = client.post(
        "/api/v1/scheduling/appointments",
        book_body(world, video_type, local(3, 10)),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "not licensed in California" in response.json()["detail"]
