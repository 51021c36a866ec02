"""Pure rules of e-visits: when a first answer is due (business hours in the practice's time
zone) and which minutes count towards the online digital E/M codes (those worked in the 7
days that open with the clinician's first action)."""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A practice that set no hours promises answers on weekdays 8 to 5 (not around the clock).
DEFAULT_HOURS = {day: [["08:00", "17:00"]] for day in DAYS[:5]}
WINDOW_DAYS = 7


def _hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def due_at(
    start: datetime, business_hours: int, *, zone: ZoneInfo, schedule: dict | None
) -> datetime:
    """`start` plus `business_hours` hours counted only inside the practice's opening hours
    ({"mon": [["08:00", "17:00"]], ...}, local times). Opening and closing are local wall
    times, so a DST change shortens or lengthens that night, not the working day."""
    schedule = schedule or DEFAULT_HOURS
    if not any(schedule.get(day) for day in DAYS):
        schedule = DEFAULT_HOURS
    left = timedelta(hours=business_hours)
    day = start.astimezone(zone).date()
    while True:
        for opens, closes in sorted(schedule.get(DAYS[day.weekday()], [])):
            begin = datetime.combine(day, _hm(opens), tzinfo=zone)
            end = datetime.combine(day, _hm(closes), tzinfo=zone)
            begin = max(begin, start)
            if end <= begin:
                continue
            if end - begin >= left:
                return begin + left
            left -= end - begin
        day += timedelta(days=1)


def window(first_action: date) -> tuple[date, date]:
    """The 7 days (inclusive) whose minutes one e-visit's time code counts."""
    return first_action, first_action + timedelta(days=WINDOW_DAYS - 1)


def minutes_in_window(entries: Iterable[tuple[date, int]], first_action: date | None) -> int:
    """Cumulative minutes of (work date, minutes) entries inside the window; none before the
    clinician's first action."""
    if first_action is None:
        return 0
    first, last = window(first_action)
    return sum(minutes for day, minutes in entries if first <= day <= last)
