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


def _minutes(text: object) -> int | None:
    """Minutes after midnight of "HH:MM" ("24:00" is the end of the day), None if unreadable."""
    try:
        hours, minutes = (int(part) for part in str(text).split(":"))
    except ValueError:
        return None
    total = hours * 60 + minutes
    return total if 0 <= minutes < 60 and 0 <= total <= 24 * 60 else None


def _opening(schedule: dict | None) -> dict[int, list[tuple[int, int]]]:
    """Weekday -> sorted (open, close) minutes. An interval that closes before it opens is
    never open, as in messaging's after-hours rule; a week with no open minute falls back to
    the default hours, so a due time always exists."""
    opening: dict[int, list[tuple[int, int]]] = {}
    for index, day in enumerate(DAYS):
        intervals = (schedule or {}).get(day) or []
        for interval in intervals if isinstance(intervals, list) else []:
            if not isinstance(interval, list | tuple) or len(interval) != 2:
                continue
            opens, closes = _minutes(interval[0]), _minutes(interval[1])
            if opens is not None and closes is not None and opens < closes:
                opening.setdefault(index, []).append((opens, closes))
    if not opening:
        return _opening(DEFAULT_HOURS)
    return {index: sorted(intervals) for index, intervals in opening.items()}


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes)


def due_at(
    start: datetime, business_hours: int, *, zone: ZoneInfo, schedule: dict | None
) -> datetime:
    """`start` plus `business_hours` hours counted only inside the practice's opening hours
    ({"mon": [["08:00", "17:00"]], ...}, local times). Opening and closing are local wall
    times, so a DST change shortens or lengthens that night, not the working day."""
    opening = _opening(schedule)
    left = timedelta(hours=business_hours)
    day = start.astimezone(zone).date()
    while True:
        for opens, closes in opening.get(day.weekday(), []):
            begin = max(_at(day, opens, zone), start)
            end = _at(day, closes, zone)
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
