"""Fifty bookings of one slot at once, each on its own database connection."""

from functools import partial

import pytest
from django.test import Client
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, BookedVia
from telehealth.accounts.models import Patient
from tests.concurrency import at_once
from tests.conftest import make_patient
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_bookings_of_one_slot_leave_exactly_one(
    require_postgres, world, video_type
):
    patients = [
        make_patient(
            world.practice, f"Racer {i}", f"racer{i}@x.test", login=False, phone=f"+1617555{i:04d}"
        )
        for i in range(50)
    ]
    start = local(3, 10)

    def attempt(patient) -> str:
        try:
            services.appointment_book(
                provider=world.clinician.provider,
                patient=patient,
                appointment_type=video_type,
                start=start,
                by=None,
                via=BookedVia.ONLINE,
            )
        except services.SlotTaken:
            return "taken"
        return "booked"

    outcomes = at_once([partial(attempt, p) for p in patients])
    assert sorted(outcomes) == ["booked"] + ["taken"] * 49
    assert Appointment.objects.filter(start=start).count() == 1


def test_online_and_front_desk_booking_one_slot_at_once_leave_one_and_no_orphan_patient(
    require_postgres, world, video_type
):
    """The public form registers a new patient and books; the desk books a known patient for
    the same time. Whoever loses leaves nothing behind, whichever side it is."""
    rounds = 8
    patients_before = Patient.objects.count()
    url = reverse("scheduling:book-details", args=[world.practice.slug])
    outcomes: list[tuple[str, str]] = []

    def online(i: int, start) -> tuple[str, str]:
        response = Client().post(
            url,
            booking_data(
                video_type,
                start,
                legal_name=f"Online Racer {i}",
                email=f"online{i}@x.test",
                phone=f"+1617555{i:04d}",
            ),
        )
        status = response.status_code
        return "online", {302: "booked", 409: "taken"}.get(status, f"status {status}")

    def desk(start) -> tuple[str, str]:
        try:
            services.appointment_book(
                provider=world.clinician.provider,
                patient=world.other_patient,
                appointment_type=video_type,
                start=start,
                by=world.front_desk,
                via=BookedVia.STAFF,
            )
        except services.SlotTaken:
            return "desk", "taken"
        return "desk", "booked"

    for i in range(rounds):
        start = local(3, 8 + i)
        answers = at_once([partial(online, i, start), partial(desk, start)])
        errors = [a for a in answers if isinstance(a, str)]
        assert not errors, errors
        result = dict(a for a in answers if isinstance(a, tuple))
        outcomes.append((result["online"], result["desk"]))

    assert all(sorted(pair) == ["booked", "taken"] for pair in outcomes), outcomes
    assert Appointment.objects.count() == rounds
    online_wins = sum(online == "booked" for online, _desk in outcomes)
    assert Patient.objects.count() == patients_before + online_wins, outcomes
