from datetime import date

import pytest
from django.core import mail
from django.urls import reverse

from scheduling import services
from scheduling.links import MANAGE
from scheduling.models import Appointment, BookedVia, CalendarFeed, Status
from telehealth import links
from telehealth.accounts.models import Patient
from tests.conftest import sign_in
from tests.scheduling.conftest import local, slot_links


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def details_url(world, video_type, start):
    return reverse("scheduling:book-details", args=[world.practice.slug])


def booking_data(video_type, start, **overrides):
    data = {
        "type": video_type.slug,
        "provider": "doc",
        "start": start.isoformat(),
        "tz": "America/New_York",
        "legal_name": "Nora New",
        "date_of_birth": "1990-05-04",
        "phone": "(617) 555-0177",
        "email": "nora@example.com",
        "state": "MA",
        "reason": "Sore throat",
        "sms_consent": "on",
    }
    return {**data, **overrides}


def test_public_page_lists_types_then_suggested_and_open_times(client, world, video_type):
    page = client.get(reverse("scheduling:book", args=["alpha"]))
    assert page.status_code == 200
    assert b"Video visit" in page.content
    page = client.get(
        reverse("scheduling:book", args=["alpha"]),
        {"type": "video", "tz": "Europe/London", "from": local(2, 0).date()},
    )
    assert len(slot_links(page, suggested=True)) == 3
    assert slot_links(page)
    assert b"Suggested times" in page.content


def test_provider_link_shows_only_that_providers_times(client, world, video_type):
    page = client.get(reverse("scheduling:book-provider", args=["alpha", "doc"]), {"type": "video"})
    assert page.status_code == 200
    shown = slot_links(page)
    assert shown and all(link["provider"] == "doc" for link in shown)
    assert (
        client.get(reverse("scheduling:book-provider", args=["alpha", "nobody"])).status_code == 404
    )
    assert client.get(reverse("scheduling:book", args=["no-such-practice"])).status_code == 404


def test_booking_through_the_pages_and_returning_patient_is_matched(
    client, world, video_type, django_capture_on_commit_callbacks
):
    url = reverse("scheduling:book-details", args=["alpha"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, booking_data(video_type, local(3, 10)))
    assert response.status_code == 302
    confirmation = client.get(response["Location"])
    assert b"You&#x27;re booked" in confirmation.content or b"booked" in confirmation.content
    patient = Patient.objects.get(legal_name="Nora New")
    assert patient.phone == "+16175550177" and patient.sms_consent
    assert len(mail.outbox) == 1
    # The same person books again with different capitalisation and only the email matching.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url,
            booking_data(
                video_type,
                local(4, 10),
                legal_name="NORA NEW",
                phone="+1 617 555 0100",
                email="Nora@Example.com",
            ),
        )
    assert Patient.objects.filter(date_of_birth=date(1990, 5, 4)).count() == 1
    assert Appointment.objects.filter(patient=patient).count() == 2


def test_bad_details_are_explained_and_nothing_is_written(client, world, video_type):
    url = reverse("scheduling:book-details", args=["alpha"])
    response = client.post(
        url, booking_data(video_type, local(3, 10), phone="12", date_of_birth="2999-01-01")
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "phone" in errors and "date_of_birth" in errors
    assert not Patient.objects.filter(legal_name="Nora New").exists()
    assert Appointment.objects.count() == 0


def test_a_taken_slot_answers_409_with_a_message(client, world, video_type):
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    response = client.post(
        reverse("scheduling:book-details", args=["alpha"]), booking_data(video_type, local(3, 10))
    )
    assert response.status_code == 409
    assert b"just taken" in response.content
    assert Appointment.objects.count() == 1


def test_unknown_type_provider_or_time_is_a_clear_error(client, world, video_type):
    url = reverse("scheduling:book-details", args=["alpha"])
    assert client.get(url, {"type": "nope", "provider": "doc"}).status_code == 404
    assert client.get(url, {"type": "video", "provider": "nope"}).status_code == 404
    response = client.get(url, {"type": "video", "provider": "doc", "start": "yesterday"})
    assert response.status_code == 302


def test_cancel_and_reschedule_by_link_without_login(client, world, video_type):
    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    token = links.token_for(MANAGE, appointment)
    page = client.get(reverse("scheduling:manage", args=[token]), {"reschedule": "1"})
    assert page.status_code == 200 and page.context["reschedule"]
    moved = client.post(
        reverse("scheduling:manage-reschedule", args=[token]), {"start": local(3, 14).isoformat()}
    )
    assert moved.status_code == 302
    new = Appointment.objects.get(replaces=appointment)
    assert client.get(reverse("scheduling:manage", args=[token])).status_code == 410
    new_token = links.token_for(MANAGE, new)
    done = client.post(reverse("scheduling:manage", args=[new_token]), {"reason": "Better"})
    assert done.status_code == 200
    new.refresh_from_db()
    assert new.status == Status.CANCELLED


def test_tampered_link_is_refused(client, world):
    assert client.get(reverse("scheduling:manage", args=["garbage"])).status_code == 410
    assert (
        client.post(
            reverse("scheduling:manage-reschedule", args=["garbage"]),
            {"start": "2030-01-01T10:00:00+00:00"},
        ).status_code
        == 410
    )
    assert client.get(reverse("scheduling:offer", args=["garbage"])).status_code == 410


def test_front_desk_checks_in_and_marks_no_show_from_the_schedule(client, world, video_type):
    first = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(1, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.front_desk)
    page = client.get(reverse("scheduling:schedule"), {"day": local(1, 10).date().isoformat()})
    assert list(page.context["appointments"]) == [first]
    url = reverse("scheduling:appointment-action", args=[first.pk])
    assert client.post(url, {"action": "check_in"}).status_code == 302
    first.refresh_from_db()
    assert first.status == Status.CHECKED_IN


def test_patient_sees_only_their_own_appointments(client, world, video_type):
    mine = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.other_patient,
        appointment_type=video_type,
        start=local(3, 11),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.patient.user)
    page = client.get(reverse("scheduling:mine"))
    assert [row.appointment for row in page.context["page"].upcoming] == [mine]


def test_calendar_feed_shows_initials_only_and_a_new_token_revokes_the_old(
    client, world, video_type
):
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.clinician)
    client.get(reverse("scheduling:calendar-feed"))
    feed = CalendarFeed.objects.get(provider=world.clinician.provider)
    ics = client.get(reverse("scheduling:feed", args=[feed.token])).content.decode()
    assert "P.A." in ics and "Pat Alpha" not in ics
    old = feed.token
    client.post(reverse("scheduling:calendar-feed"), {"action": "regenerate", "detail": "busy"})
    assert client.get(reverse("scheduling:feed", args=[old])).status_code == 404
    feed.refresh_from_db()
    busy = client.get(reverse("scheduling:feed", args=[feed.token])).content.decode()
    assert "SUMMARY:Busy" in busy and "P.A." not in busy


def test_front_desk_books_for_a_patient_and_moves_the_appointment(client, world, video_type):
    sign_in(client, world.front_desk)
    url = reverse("scheduling:staff-book", args=[world.patient.pk])
    page = client.get(url, {"type": "video", "from": local(3, 0).date().isoformat()})
    assert page.status_code == 200 and page.context["by_day"]
    slot = f"doc@{local(3, 10).isoformat()}"
    assert client.post(url, {"type": "video", "slot": slot}).status_code == 302
    appointment = Appointment.objects.get(patient=world.patient)
    assert appointment.booked_via == BookedVia.STAFF and appointment.booked_by == world.front_desk
    move = reverse("scheduling:staff-move", args=[appointment.pk])
    assert client.get(move).status_code == 200
    assert client.post(move, {"slot": f"doc@{local(3, 15).isoformat()}"}).status_code == 302
    new = Appointment.objects.get(replaces=appointment)
    assert new.start == local(3, 15)


def test_staff_booking_of_a_taken_time_says_so(client, world, video_type):
    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.other_patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.front_desk)
    url = reverse("scheduling:staff-book", args=[world.patient.pk])
    response = client.post(
        url, {"type": "video", "slot": f"doc@{local(3, 10).isoformat()}"}, follow=True
    )
    assert b"just taken" in response.content
    assert not Appointment.objects.filter(patient=world.patient).exists()


def test_opening_a_manage_link_is_audited_and_not_cached(client, world, video_type):
    from telehealth.audit.models import AuditEvent

    appointment = services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    response = client.get(reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)]))
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.filter(action="view").last()
    assert event is not None
    assert event.patient_id == world.patient.pk and event.actor is None
    assert event.object_id == str(appointment.pk)


def test_each_appointment_on_the_schedule_is_in_the_patients_audit_trail(client, world, video_type):
    from telehealth.audit.models import AuditEvent

    services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(1, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    sign_in(client, world.front_desk)
    client.get(reverse("scheduling:schedule"), {"day": local(1, 10).date().isoformat()})
    assert AuditEvent.objects.filter(
        action="view", patient=world.patient, actor=world.front_desk
    ).exists()
