"""Moments counted in a practice's calendar days, for tests of rules that count local days,
and the windows of the fixed-window rate limits.

`timezone.now() - timedelta(days=n)` goes back n × 24 hours: across a daylight-saving change
that lands on the neighbouring local day when the clock is near midnight, and a test at a
rule's boundary then passes or fails by the hour it runs."""

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone


def local_days_ago(zone: ZoneInfo, days: int) -> datetime:
    """This moment's local time of day, `days` calendar days ago in `zone`."""
    now = timezone.localtime(timezone.now(), zone)
    return datetime.combine(now.date() - timedelta(days=days), now.time(), zone)


def window_start(seconds: int) -> float:
    """When the current window of a fixed-window limit (telehealth.ratelimit, whose windows
    are aligned to the clock) began: a test pins time.time inside one window, since hits on
    either side of an edge are rightly counted apart."""
    return time.time() // seconds * seconds
