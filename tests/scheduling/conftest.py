from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

NY = ZoneInfo("America/New_York")


def local(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localtime(timezone.now(), NY).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(ZoneInfo("UTC"))
