"""Moments counted in a practice's calendar days, for tests of rules that count local days.

`timezone.now() - timedelta(days=n)` goes back n × 24 hours: across a daylight-saving change
that lands on the neighbouring local day when the clock is near midnight, and a test at a
rule's boundary then passes or fails by the hour it runs."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone


def local_days_ago(zone: ZoneInfo, days: int) -> datetime:
    """This moment's local time of day, `days` calendar days ago in `zone`."""
    now = timezone.localtime(timezone.now(), zone)
    return datetime.combine(now.date() - timedelta(days=days), now.time(), zone)
