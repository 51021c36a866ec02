from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from scheduling.models import AppointmentType, AvailabilityRule, Modality

NY = ZoneInfo("America/New_York")


@pytest.fixture
def video_type(world):
    kind = AppointmentType.objects.create(
        practice=world.practice,
        name="Video visit",
        slug="video",
        modality=Modality.VIDEO,
        duration_minutes=20,
        buffer_after_minutes=10,
        minimum_notice_minutes=60,
    )
    provider = world.clinician.provider
    kind.providers.add(provider)
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=provider, weekday=d, start_time=time(8), end_time=time(18))
        for d in range(7)
    )
    return kind


def local(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localtime(timezone.now(), NY).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(ZoneInfo("UTC"))
