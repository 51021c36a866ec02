"""Fifty bookings of one slot at once, each on its own database connection."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from scheduling import services
from scheduling.models import Appointment, BookedVia
from telehealth.accounts.models import Patient
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
    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(patient):
        try:
            barrier.wait()
            services.appointment_book(
                provider=world.clinician.provider,
                patient=patient,
                appointment_type=video_type,
                start=start,
                by=None,
                via=BookedVia.ONLINE,
            )
            result = "booked"
        except services.SlotTaken:
            result = "taken"
        except Exception as exc:  # anything else is a failure the assertions will show
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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

    for i in range(rounds):
        start = local(3, 8 + i)
        barrier = threading.Barrier(2)
        result: dict[str, str] = {}

        def online(i=i, start=start, barrier=barrier, result=result):
            client = Client()
            try:
                barrier.wait()
                response = client.post(
                    url,
                    booking_data(
                        video_type,
                        start,
                        legal_name=f"Online Racer {i}",
                        email=f"online{i}@x.test",
                        phone=f"+1617555{i:04d}",
                    ),
                )
                result["online"] = {302: "booked", 409: "taken"}.get(
                    response.status_code, f"status {response.status_code}"
                )
            except Exception as exc:
                result["online"] = f"error: {exc!r}"
            finally:
                connection.close()

        def desk(start=start, barrier=barrier, result=result):
            try:
                barrier.wait()
                services.appointment_book(
                    provider=world.clinician.provider,
                    patient=world.other_patient,
                    appointment_type=video_type,
                    start=start,
                    by=world.front_desk,
                    via=BookedVia.STAFF,
                )
                result["desk"] = "booked"
            except services.SlotTaken:
                result["desk"] = "taken"
            except Exception as exc:
                result["desk"] = f"error: {exc!r}"
            finally:
                connection.close()

        threads = [threading.Thread(target=online), threading.Thread(target=desk)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.append((result.get("online", "none"), result.get("desk", "none")))

    assert all(sorted(pair) == ["booked", "taken"] for pair in outcomes), outcomes
    assert Appointment.objects.count() == rounds
    online_wins = sum(online == "booked" for online, _desk in outcomes)
    assert Patient.objects.count() == patients_before + online_wins, outcomes
