"""Slot generation as pure functions: rules, exceptions, buffers, notice and DST."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.slots import Exception_, Rule, local_to_utc, open_slots, suggest, windows_for

ALL = frozenset({"video", "phone", "in_person"})
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
M20 = timedelta(minutes=20)


def weekdays(start=time(9), end=time(17), modalities=ALL):
    return [Rule(d, start, end, modalities) for d in range(7)]


def slots(
    zone,
    first,
    last,
    *,
    rules=None,
    exceptions=(),
    busy=(),
    duration=M20,
    before=timedelta(0),
    after=timedelta(0),
    earliest=None,
    modality="video",
):
    windows = windows_for(
        rules=rules or weekdays(), exceptions=exceptions, zone=zone, first_day=first, last_day=last
    )
    return open_slots(
        windows=windows,
        busy=list(busy),
        modality=modality,
        duration=duration,
        buffer_before=before,
        buffer_after=after,
        earliest=earliest or datetime(2000, 1, 1, tzinfo=UTC),
        latest=datetime(2100, 1, 1, tzinfo=UTC),
    )


def local_times(starts, zone):
    return [s.astimezone(zone).strftime("%H:%M") for s in starts]


def test_a_weekday_rule_gives_fifteen_minute_starts_that_fit_the_window():
    day = date(2026, 6, 1)  # a Monday
    starts = slots(NY, day, day, rules=[Rule(0, time(9), time(10), ALL)])
    assert local_times(starts, NY) == ["09:00", "09:15", "09:30"]


def test_rule_validity_dates_and_modalities_are_honoured():
    rules = [Rule(0, time(9), time(10), frozenset({"in_person"}), valid_from=date(2026, 6, 8))]
    assert slots(NY, date(2026, 6, 1), date(2026, 6, 1), rules=rules, modality="in_person") == []
    assert slots(NY, date(2026, 6, 8), date(2026, 6, 8), rules=rules, modality="video") == []
    assert (
        len(slots(NY, date(2026, 6, 8), date(2026, 6, 8), rules=rules, modality="in_person")) == 3
    )


def test_day_off_removes_the_day_and_partial_time_off_splits_it():
    day = date(2026, 6, 1)
    off = [Exception_(day, available=False)]
    assert slots(NY, day, day, exceptions=off) == []
    lunch = [Exception_(day, available=False, start=time(12), end=time(13))]
    times = local_times(slots(NY, day, day, exceptions=lunch), NY)
    assert "11:30" in times and "11:45" not in times and "12:00" not in times
    assert "13:00" in times


def test_extra_hours_add_slots():
    day = date(2026, 6, 6)  # Saturday, no rule
    extra = [Exception_(day, available=True, start=time(10), end=time(11), modalities=ALL)]
    assert local_times(
        slots(NY, day, day, rules=[Rule(0, time(9), time(10), ALL)], exceptions=extra), NY
    ) == ["10:00", "10:15", "10:30"]


def test_buffers_keep_distance_from_existing_appointments():
    day = date(2026, 6, 1)
    existing = (local_to_utc(day, time(10), NY), local_to_utc(day, time(10, 20), NY))
    times = local_times(
        slots(
            NY, day, day, busy=[existing], before=timedelta(minutes=10), after=timedelta(minutes=10)
        ),
        NY,
    )
    # A 20-minute visit with 10 minutes each side: 09:30 ends at 09:50 (+10 = 10:00) is fine,
    # 09:45 would end its buffer at 10:15 and overlap; 10:30 starts its buffer at 10:20.
    assert "09:30" in times and "09:45" not in times
    assert "10:15" not in times and "10:30" in times


def test_minimum_notice_removes_early_slots():
    day = date(2026, 6, 1)
    earliest = local_to_utc(day, time(15, 5), NY)
    times = local_times(slots(NY, day, day, earliest=earliest), NY)
    assert times[0] == "15:15"


@pytest.mark.parametrize(
    ("zone", "before", "after", "hours_between"),
    [
        # Spring forward: the local 09:00 start moves one hour earlier in UTC.
        (NY, date(2026, 3, 7), date(2026, 3, 9), 47),
        (LONDON, date(2026, 3, 28), date(2026, 3, 30), 47),
        (SYDNEY, date(2026, 4, 4), date(2026, 4, 6), 49),  # autumn in Sydney: clocks go back
        # Fall back in the northern zones, spring forward in Sydney.
        (NY, date(2026, 10, 31), date(2026, 11, 2), 49),
        (LONDON, date(2026, 10, 24), date(2026, 10, 26), 49),
        (SYDNEY, date(2026, 10, 3), date(2026, 10, 5), 47),
    ],
)
def test_local_hours_hold_across_dst_changes(zone, before, after, hours_between):
    first = slots(zone, before, before)[0]
    second = slots(zone, after, after)[0]
    assert first.astimezone(zone).time() == time(9) == second.astimezone(zone).time()
    assert second - first == timedelta(hours=hours_between)


def test_a_rule_spanning_the_spring_forward_gap_loses_the_skipped_hour():
    day = date(2026, 3, 8)  # New York skips 02:00-03:00
    starts = slots(NY, day, day, rules=[Rule(6, time(1), time(4), ALL)])
    # Starts step 15 real minutes: 01:45 EST is followed by 03:00 EDT.
    assert local_times(starts, NY) == [
        "01:00",
        "01:15",
        "01:30",
        "01:45",
        "03:00",
        "03:15",
        "03:30",
    ]
    assert starts[-1] + M20 <= local_to_utc(day, time(4), NY)


def test_a_rule_spanning_the_fall_back_hour_has_no_overlapping_slots():
    day = date(2026, 11, 1)  # New York repeats 01:00-02:00
    starts = slots(NY, day, day, rules=[Rule(6, time(0), time(3), ALL)])
    assert len(starts) == len(set(starts))
    # 00:00 to 03:00 local lasts four real hours that night: starts run 0 h to 3 h 30.
    assert starts[-1] - starts[0] == timedelta(hours=3, minutes=30)
    assert len(starts) == 15
    assert local_times(starts, NY).count("01:15") == 2  # once in EDT, once in EST


def test_slots_show_in_the_patients_zone_across_their_own_dst_change():
    # Provider in New York at 09:00; a London patient sees 14:00, then 13:00 during the weeks
    # when the US has changed its clocks and the UK has not yet.
    before = slots(NY, date(2026, 3, 6), date(2026, 3, 6))[0]
    during = slots(NY, date(2026, 3, 10), date(2026, 3, 10))[0]
    after = slots(NY, date(2026, 3, 30), date(2026, 3, 30))[0]
    assert [s.astimezone(LONDON).strftime("%H:%M") for s in (before, during, after)] == [
        "14:00",
        "13:00",
        "14:00",
    ]


def test_suggestions_put_the_soonest_day_first_then_compact_then_preference():
    day = date(2026, 6, 1)
    existing = (local_to_utc(day, time(14), NY), local_to_utc(day, time(14, 20), NY))
    open_ = slots(NY, day, date(2026, 6, 2), busy=[existing])
    top = suggest(open_, busy=[existing], duration=M20, zone=NY, preference="morning")
    # 13:30 ends 10 minutes before the 14:00 visit and 14:30 starts 10 minutes after it.
    assert [t.astimezone(NY).strftime("%d %H:%M") for t in top] == [
        "01 13:30",
        "01 14:30",
        "01 09:00",
    ]
    afternoon = suggest(open_, busy=[], duration=M20, zone=NY, preference="afternoon")
    assert afternoon[0].astimezone(NY).strftime("%d %H:%M") == "01 12:00"


def test_busy_checker_agrees_with_a_plain_scan():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scheduling.slots import busy_checker

    base = datetime(2026, 6, 1, tzinfo=UTC)
    minute = st.integers(min_value=0, max_value=600)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(minute, st.integers(1, 90)), max_size=30), minute, st.integers(1, 90))
    def check(blocks, start, length):
        busy = [(base + timedelta(minutes=s), base + timedelta(minutes=s + n)) for s, n in blocks]
        lo, hi = base + timedelta(minutes=start), base + timedelta(minutes=start + length)
        expected = any(b_start < hi and lo < b_end for b_start, b_end in busy)
        assert busy_checker(busy)(lo, hi) == expected

    check()


def test_suggestions_agree_with_a_plain_scan_of_the_busy_blocks():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scheduling.slots import SLOT_STEP

    base = datetime(2026, 6, 1, 12, tzinfo=UTC)
    minute = st.integers(min_value=0, max_value=3000)

    def plain(slots_, busy, preference):
        def compact(start):
            end = start + M20
            return any(
                timedelta(0) <= start - b_end < SLOT_STEP
                or timedelta(0) <= b_start - end < SLOT_STEP
                for b_start, b_end in busy
            )

        def matches(start):
            hour = start.astimezone(NY).hour
            return {"morning": hour < 12, "afternoon": 12 <= hour < 17, "evening": hour >= 17}.get(
                preference, True
            )

        key = lambda s: (s.astimezone(NY).date(), not compact(s), not matches(s), s)  # noqa: E731
        return sorted(slots_, key=key)[:3]

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(minute, max_size=40, unique=True),
        st.lists(st.tuples(minute, st.integers(1, 90)), max_size=30),
        st.sampled_from(["", "morning", "afternoon", "evening"]),
    )
    def check(starts, blocks, preference):
        slots_ = [base + timedelta(minutes=5 * s) for s in starts]
        busy = [
            (base + timedelta(minutes=5 * s), base + timedelta(minutes=5 * s + n))
            for s, n in blocks
        ]
        found = suggest(slots_, busy=busy, duration=M20, zone=NY, preference=preference)
        assert found == plain(slots_, busy, preference)

    check()
