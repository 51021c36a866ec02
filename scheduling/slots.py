"""Slot generation and ranking: pure functions over plain values, no database.

Availability is wall-clock time in the provider's zone, so a 09:00-17:00 rule stays 09:00-17:00
local across DST changes; everything returned is an aware datetime in UTC.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SLOT_STEP = timedelta(minutes=15)


@dataclass(frozen=True)
class Rule:
    weekday: int  # Monday is 0
    start: time
    end: time
    modalities: frozenset[str]
    valid_from: date | None = None
    valid_until: date | None = None

    def applies_on(self, day: date) -> bool:
        return (
            day.weekday() == self.weekday
            and (self.valid_from is None or day >= self.valid_from)
            and (self.valid_until is None or day <= self.valid_until)
        )


@dataclass(frozen=True)
class Exception_:
    day: date
    available: bool  # False: time off; True: extra hours
    start: time | None = None  # None with available=False: the whole day
    end: time | None = None
    modalities: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    modalities: frozenset[str]


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock time to UTC. A time skipped by a spring-forward change resolves forward
    (02:30 on a change night is 03:30 local); a repeated time takes its first occurrence."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=zone, fold=0)
    roundtrip = aware.astimezone(UTC).astimezone(zone)
    if roundtrip.replace(tzinfo=None) != naive:  # in a gap: fold=1 gives the later offset
        aware = naive.replace(tzinfo=zone, fold=1)
    return aware.astimezone(UTC)


def _day_end(day: date, at: time) -> tuple[date, time]:
    # An end of 00:00 means midnight at the end of the day.
    return (day + timedelta(days=1), time(0)) if at == time(0) else (day, at)


def windows_for(
    *,
    rules: Iterable[Rule],
    exceptions: Iterable[Exception_],
    zone: ZoneInfo,
    first_day: date,
    last_day: date,
) -> list[Window]:
    """Open windows for the local dates first_day..last_day inclusive, in UTC."""
    rules = list(rules)
    by_day: dict[date, list[Exception_]] = {}
    for exc in exceptions:
        by_day.setdefault(exc.day, []).append(exc)
    windows: list[Window] = []
    day = first_day
    while day <= last_day:
        todays = [
            Window(
                local_to_utc(day, r.start, zone),
                local_to_utc(*_day_end(day, r.end), zone),
                r.modalities,
            )
            for r in rules
            if r.applies_on(day)
        ]
        for exc in by_day.get(day, []):
            if exc.available and exc.start is not None and exc.end is not None:
                todays.append(
                    Window(
                        local_to_utc(day, exc.start, zone),
                        local_to_utc(*_day_end(day, exc.end), zone),
                        exc.modalities,
                    )
                )
        for exc in by_day.get(day, []):
            if exc.available:
                continue
            if exc.start is None:
                todays = []
                break
            off_start = local_to_utc(day, exc.start, zone)
            # A start with no end (the database's check lets it through): off until midnight.
            off_end = local_to_utc(*_day_end(day, exc.end or time(0)), zone)
            todays = [piece for w in todays for piece in _subtract(w, off_start, off_end)]
        windows.extend(todays)
        day += timedelta(days=1)
    return sorted(windows, key=lambda w: w.start)


def _subtract(window: Window, start: datetime, end: datetime) -> list[Window]:
    if end <= window.start or start >= window.end:
        return [window]
    pieces = []
    if start > window.start:
        pieces.append(Window(window.start, start, window.modalities))
    if end < window.end:
        pieces.append(Window(end, window.end, window.modalities))
    return pieces


def open_slots(
    *,
    windows: Sequence[Window],
    busy: Sequence[tuple[datetime, datetime]],
    modality: str,
    duration: timedelta,
    buffer_before: timedelta,
    buffer_after: timedelta,
    earliest: datetime,
    latest: datetime,
    step: timedelta = SLOT_STEP,
) -> list[datetime]:
    """Start times (UTC) where a visit fits inside a window and its buffered block overlaps
    no busy block. `busy` holds the buffered blocks of existing appointments."""
    overlaps = busy_checker(busy)
    starts: list[datetime] = []
    for window in windows:
        if modality not in window.modalities:
            continue
        candidate = window.start
        while candidate + duration <= window.end:
            if earliest <= candidate <= latest and not overlaps(
                candidate - buffer_before, candidate + duration + buffer_after
            ):
                starts.append(candidate)
            candidate += step
    return sorted(set(starts))


def busy_checker(busy: Sequence[tuple[datetime, datetime]]):
    """A function telling in O(log n) whether [start, end) overlaps any busy block: blocks are
    sorted by start, and a prefix maximum of their ends answers "does any block that starts
    before `end` finish after `start`?"."""
    blocks = sorted(busy)
    block_starts = [b[0] for b in blocks]
    max_end: list[datetime] = []
    for _, b_end in blocks:
        max_end.append(max(max_end[-1], b_end) if max_end else b_end)

    def overlaps(start: datetime, end: datetime) -> bool:
        count = bisect_left(block_starts, end)
        return count > 0 and max_end[count - 1] > start

    return overlaps


def suggest(
    slots: Sequence[datetime],
    *,
    busy: Sequence[tuple[datetime, datetime]],
    duration: timedelta,
    zone: ZoneInfo,
    preference: str = "",
    count: int = 3,
) -> list[datetime]:
    """The best few slots: soonest day first; within a day, slots that sit next to an existing
    appointment, less than one grid step away (keeping the provider's day compact); then the
    patient's time of day ("morning" before 12:00, "afternoon" 12:00-17:00, "evening" after
    17:00); then time."""

    block_ends = sorted(b_end for _, b_end in busy)
    block_starts = sorted(b_start for b_start, _ in busy)

    def keeps_day_compact(start: datetime) -> bool:
        # Next to an existing appointment, within one grid step of it: a block ending in
        # (start - step, start] or one starting in [end, end + step). Bisection, as a week of
        # slots against a week of busy blocks is otherwise slots x blocks comparisons.
        end = start + duration
        return bisect_right(block_ends, start) > bisect_right(
            block_ends, start - SLOT_STEP
        ) or bisect_left(block_starts, end + SLOT_STEP) > bisect_left(block_starts, end)

    def matches(start: datetime) -> bool:
        hour = start.astimezone(zone).hour
        return {
            "morning": hour < 12,
            "afternoon": 12 <= hour < 17,
            "evening": hour >= 17,
        }.get(preference, True)

    ranked = sorted(
        slots,
        key=lambda s: (s.astimezone(zone).date(), not keeps_day_compact(s), not matches(s), s),
    )
    return ranked[:count]
