"""E-visit rules without a database: when the first answer is due, and which minutes count."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visits.evisit_rules import DEFAULT_HOURS, due_at, minutes_in_window, window

NY = ZoneInfo("America/New_York")
WEEKDAYS = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def ny(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NY)


def test_hours_inside_the_working_day_are_added_as_they_are():
    # Tuesday 9:00 + 4 business hours = Tuesday 13:00.
    assert due_at(ny(2026, 3, 3, 9, 0), 4, zone=NY, schedule=WEEKDAYS) == ny(2026, 3, 3, 13, 0)


def test_the_night_is_skipped():
    # Tuesday 15:00 + 4 h: two hours on Tuesday, two from Wednesday's opening.
    assert due_at(ny(2026, 3, 3, 15, 0), 4, zone=NY, schedule=WEEKDAYS) == ny(2026, 3, 4, 10, 0)


def test_a_case_sent_at_the_weekend_starts_counting_on_monday():
    # Saturday 11:00 + 8 h = Monday 16:00.
    assert due_at(ny(2026, 3, 7, 11, 0), 8, zone=NY, schedule=WEEKDAYS) == ny(2026, 3, 9, 16, 0)


def test_one_business_day_from_friday_evening_is_monday_evening():
    assert due_at(ny(2026, 3, 6, 18, 30), 9, zone=NY, schedule=WEEKDAYS) == ny(2026, 3, 9, 17, 0)


def test_the_working_day_keeps_its_wall_clock_hours_across_the_dst_change():
    # DST starts Sunday 8 March 2026 in New York: Friday 16:00 + 2 h is Monday 9:00 local,
    # which is 13:00 UTC (it was 14:00 UTC the week before).
    due = due_at(ny(2026, 3, 6, 16, 0), 2, zone=NY, schedule=WEEKDAYS)
    assert due == ny(2026, 3, 9, 9, 0)
    assert due.astimezone(ZoneInfo("UTC")).hour == 13


def test_split_hours_and_a_practice_without_hours():
    lunch = {"mon": [["13:00", "17:00"], ["08:00", "12:00"]]}
    assert due_at(ny(2026, 3, 2, 11, 0), 2, zone=NY, schedule=lunch) == ny(2026, 3, 2, 14, 0)
    assert due_at(ny(2026, 3, 3, 9, 0), 4, zone=NY, schedule={}) == due_at(
        ny(2026, 3, 3, 9, 0), 4, zone=NY, schedule=DEFAULT_HOURS
    )


# The machine is shared: slow generation under load is not a failure of the rule.
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    hours=st.integers(min_value=1, max_value=40),
)
def test_the_due_time_is_later_within_opening_hours_and_grows_with_the_hours(start, hours):
    start = start.replace(tzinfo=ZoneInfo("UTC"))
    due = due_at(start, hours, zone=NY, schedule=WEEKDAYS)
    local = due.astimezone(NY)
    assert due >= start + timedelta(hours=hours)
    assert local.weekday() < 5 and (8, 0) <= (local.hour, local.minute) <= (17, 0)
    assert due_at(start, hours + 1, zone=NY, schedule=WEEKDAYS) > due


def test_minutes_count_only_in_the_seven_days_from_the_first_action():
    first = date(2026, 3, 2)
    assert window(first) == (date(2026, 3, 2), date(2026, 3, 8))
    entries = [
        (date(2026, 3, 1), 10),  # before the first action
        (date(2026, 3, 2), 4),
        (date(2026, 3, 5), 7),
        (date(2026, 3, 8), 3),  # the seventh day counts
        (date(2026, 3, 9), 30),  # the eighth does not
    ]
    assert minutes_in_window(entries, first) == 14
    assert minutes_in_window(entries, None) == 0


def test_a_day_open_until_midnight_counts_to_the_end_of_the_day():
    late = {"tue": [["20:00", "24:00"]], "wed": [["00:00", "02:00"]]}
    assert due_at(ny(2026, 3, 3, 21, 0), 4, zone=NY, schedule=late) == ny(2026, 3, 4, 1, 0)


def test_hours_that_can_never_be_open_fall_back_to_the_default_week():
    # An overnight interval is never open (messaging's after-hours rule reads it the same
    # way); unreadable times are skipped. With nothing open the default week applies,
    # instead of searching for an opening hour for ever.
    for schedule in (
        {"mon": [["22:00", "06:00"]]},
        {"mon": [["25:00", "26:00"]], "tue": [["8am", "5pm"]], "wed": "all day"},
        {"thu": [["09:00"]]},
    ):
        expected = due_at(ny(2026, 3, 3, 9, 0), 4, zone=NY, schedule=DEFAULT_HOURS)
        assert due_at(ny(2026, 3, 3, 9, 0), 4, zone=NY, schedule=schedule) == expected
