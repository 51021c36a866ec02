"""Time off entered with a start and no end (the admin form and the database both accept it)
runs to the end of that day instead of breaking slot generation."""

from datetime import time

from django.utils import timezone

from scheduling import selectors
from scheduling.models import AppointmentType, AvailabilityException
from tests.conftest import World
from tests.scheduling.conftest import NY, local


def test_time_off_with_a_start_and_no_end_closes_the_rest_of_the_day(
    world: World, video_type: AppointmentType
) -> None:
    provider = world.clinician.provider
    day = timezone.localtime(local(3, 12), NY).date()
    time_off = AvailabilityException(
        provider=provider,
        date=day,
        kind=AvailabilityException.Kind.UNAVAILABLE,
        start_time=time(12),
    )
    time_off.full_clean()
    time_off.save()

    found = selectors.open_slots(
        provider=provider, appointment_type=video_type, start=local(3, 0), end=local(4, 0)
    )

    starts = [timezone.localtime(slot, NY).time() for slot in found.starts]
    assert starts
    assert max(starts) < time(12)
