"""Fifty bookings of one slot at once, each on its own database connection."""

import threading

import pytest
from django.db import connection

from scheduling import services
from scheduling.models import Appointment, BookedVia
from tests.conftest import make_patient
from tests.scheduling.conftest import local

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
