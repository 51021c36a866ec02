"""Remote monitoring codes: 30-day periods from the start of monitoring, calendar months for
treatment management, one practitioner, and how close a period is to full device supply."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import progress
from billing.monitoring import (
    MonitoringPeriod,
    TimeEntry,
    period_containing,
    period_lines,
    periods_until,
    treatment_management,
)

OFFICE = "11"


def days_from(first: date, count: int, step: int = 1) -> list[date]:
    return [first + timedelta(days=n * step) for n in range(count)]


def lines_for(start: date, readings: dict, number: int = 1, as_of: date | None = None):
    period = periods_until(start=start, until=start + timedelta(days=30 * number - 1))[-1]
    return period_lines(
        period=period,
        readings=readings,
        as_of=as_of or period.end + timedelta(days=1),
        place_of_service=OFFICE,
    )


# --- Periods ---------------------------------------------------------------------------------


def test_periods_count_thirty_days_from_the_start_not_calendar_months():
    start = date(2026, 1, 20)
    assert period_containing(start=start, day=date(2026, 2, 18)) == MonitoringPeriod(
        1, date(2026, 1, 20), date(2026, 2, 18)
    )
    assert period_containing(start=start, day=date(2026, 2, 19)).number == 2
    assert [p.number for p in periods_until(start=start, until=date(2026, 3, 21))] == [1, 2, 3]
    assert periods_until(start=start, until=date(2026, 1, 19)) == []
    with pytest.raises(ValueError, match="before monitoring started"):
        period_containing(start=start, day=date(2026, 1, 19))


# --- Device supply and setup -----------------------------------------------------------------

SPANNING = date(2026, 1, 20)  # period 1 runs 20 January to 18 February


@pytest.mark.parametrize(
    ("start", "days", "codes"),
    [
        # 15 vs 16 days in a period spanning two months, 8 days in each month for 16
        (SPANNING, 15, [("99445", 1), ("99453", 1)]),
        (SPANNING, 16, [("99454", 1), ("99453", 1)]),
        (SPANNING, 1, []),
        (SPANNING, 2, [("99445", 1), ("99453", 1)]),
        (SPANNING, 30, [("99454", 1), ("99453", 1)]),
        # before 2026: nothing under 16 days, setup needs 16 days too
        (date(2025, 6, 20), 15, []),
        (date(2025, 6, 20), 16, [("99454", 1), ("99453", 1)]),
        # a period ending in 2026 takes 2026's rules
        (date(2025, 12, 20), 15, [("99445", 1), ("99453", 1)]),
    ],
)
def test_device_supply_per_period(start, days, codes):
    # Every other day, ending on the period's last day: readings spread across both months.
    readings = {"cuff": days_from(start + timedelta(days=29 - 2 * (days - 1)), days, step=2)}
    if days > 15:
        readings = {"cuff": days_from(start, days)}
    assert lines_for(start, readings).codes == codes


def test_sixteen_days_split_across_two_months_still_bill_full_supply():
    readings = {"cuff": days_from(date(2026, 2, 11), 8) + days_from(date(2026, 1, 24), 8)}
    assert {d.month for d in readings["cuff"]} == {1, 2}
    suggestion = lines_for(SPANNING, readings)
    assert suggestion.codes[0] == ("99454", 1)
    assert "16 days with readings in period 1 (2026-01-20 to 2026-02-18)" in (
        suggestion.lines[0].reason
    )


def test_two_devices_make_one_unit_and_the_reason_says_so():
    same_days = days_from(SPANNING, 16)
    suggestion = lines_for(SPANNING, {"cuff": same_days, "scale": same_days[:10]})
    assert suggestion.codes == [("99454", 1), ("99453", 1)]
    assert "2 devices" in suggestion.lines[0].reason


def test_setup_is_billed_only_in_the_first_period():
    readings = {"cuff": days_from(SPANNING, 60)}
    assert lines_for(SPANNING, readings, number=2).codes == [("99454", 1)]


def test_too_few_days_give_the_reason():
    suggestion = lines_for(SPANNING, {"cuff": [SPANNING]})
    assert suggestion.lines == ()
    reasons = [item.reason for item in suggestion.not_billed]
    assert "below the 2 days of the shortest device-supply code" in reasons[0]
    assert suggestion.not_billed[1].code == "99453"


def test_an_open_period_waits_unless_full_supply_is_reached():
    as_of = SPANNING + timedelta(days=20)
    waiting = lines_for(SPANNING, {"cuff": days_from(SPANNING, 14)}, as_of=as_of)
    assert waiting.lines == () and "still open: 14 days" in waiting.not_billed[0].reason
    reached = lines_for(SPANNING, {"cuff": days_from(SPANNING, 16)}, as_of=as_of)
    assert reached.codes == [("99454", 1), ("99453", 1)]


def test_readings_outside_the_period_do_not_count():
    readings = {"cuff": days_from(SPANNING - timedelta(days=10), 10) + days_from(SPANNING, 15)}
    assert lines_for(SPANNING, readings).codes[0] == ("99445", 1)


# --- Treatment management --------------------------------------------------------------------

ALICE, BOB = 1, 2


def entry(minutes: int, *, who: int = ALICE, interactive: bool = True, day: int = 5, month=3):
    name = {ALICE: "Dr Alice Ames", BOB: "Dr Bob Burns"}[who]
    return TimeEntry(date(2026, month, day), minutes, interactive, who, name)


def management(entries, *, year: int = 2026, month: int = 3):
    return treatment_management(year=year, month=month, entries=entries, place_of_service=OFFICE)


@pytest.mark.parametrize(
    ("year", "minutes", "codes"),
    [
        (2026, 9, []),
        (2026, 10, [("99470", 1)]),
        (2026, 19, [("99470", 1)]),
        (2026, 20, [("99457", 1)]),
        (2026, 39, [("99457", 1)]),
        (2026, 40, [("99457", 1), ("99458", 1)]),
        (2026, 41, [("99457", 1), ("99458", 1)]),
        (2026, 60, [("99457", 1), ("99458", 2)]),
        (2025, 19, []),
        (2025, 20, [("99457", 1)]),
        (2025, 41, [("99457", 1), ("99458", 1)]),
    ],
)
def test_treatment_management_minutes(year, minutes, codes):
    entries = [
        TimeEntry(date(year, 3, 2), minutes - minutes // 2, True, ALICE, "Dr Alice Ames"),
        TimeEntry(date(year, 3, 20), minutes // 2, False, ALICE, "Dr Alice Ames"),
    ]
    assert management(entries, year=year).codes == codes


def test_no_interactive_contact_bills_no_management_time():
    suggestion = management([entry(45, interactive=False)])
    assert suggestion.lines == () and "no interactive contact" in suggestion.not_billed[0].reason


def test_two_practitioners_one_bills_with_only_their_minutes():
    suggestion = management([entry(25), entry(15, who=BOB), entry(5, who=BOB, day=9)])
    assert suggestion.codes == [("99457", 1)]
    reason = suggestion.lines[0].reason
    assert "Billed by Dr Alice Ames, who logged the most time in March 2026 (25 of 45" in reason
    assert "Other practitioners' time is not counted." in reason


def test_a_tie_goes_to_the_lower_practitioner_id():
    suggestion = management([entry(20, who=BOB), entry(20)])
    assert "Dr Alice Ames" in suggestion.lines[0].reason


def test_other_months_do_not_count():
    suggestion = management([entry(15), entry(30, month=2), entry(30, month=4, day=1)])
    assert suggestion.codes == [("99470", 1)]


def test_a_month_without_time_says_so():
    assert management([]).not_billed[0].reason == "No time logged in March 2026."


# --- Close to a threshold --------------------------------------------------------------------


def supply_at(start, days, today):
    """Where device supply stands on `today` (billing.progress, as the worklist shows it)."""
    standing = progress.standing(start=start, readings={"cuff": days}, entries=[], today=today)
    full = next(t for t in standing.supply if t.code == "99454")
    return standing, full


def test_fourteen_days_with_readings_and_five_days_left():
    start = date(2026, 3, 1)  # period 1 ends 30 March
    standing, full = supply_at(start, days_from(start, 14), date(2026, 3, 26))
    assert (standing.days_with_readings, standing.days_left, full.days_needed) == (14, 5, 2)
    assert full.close and standing.close


def test_a_reading_today_does_not_leave_today_open():
    start = date(2026, 3, 1)
    today = date(2026, 3, 26)
    standing, full = supply_at(start, [*days_from(start, 14), today], today)
    assert (standing.days_with_readings, standing.days_left, full.days_needed) == (15, 4, 1)


def test_out_of_reach_and_already_reached_are_not_close():
    start = date(2026, 3, 1)
    _, late = supply_at(start, [start], date(2026, 3, 28))
    assert not late.reachable and not late.close
    _, done = supply_at(start, days_from(start, 16), date(2026, 3, 20))
    assert done.met and not done.close


def test_progress_counts_the_period_containing_today():
    start = date(2026, 1, 20)
    standing, _ = supply_at(start, days_from(start, 40), date(2026, 2, 25))
    assert standing.period.number == 2 and standing.days_with_readings == 7


# --- Properties ------------------------------------------------------------------------------


@given(
    offsets=st.sets(st.integers(0, 29), max_size=30),
    devices=st.integers(1, 3),
)
def test_one_supply_unit_per_period_whatever_the_devices(offsets, devices):
    days = [SPANNING + timedelta(days=n) for n in offsets]
    suggestion = lines_for(SPANNING, {f"device {n}": days for n in range(devices)})
    supply = [line for line in suggestion.lines if line.code in {"99445", "99454"}]
    expected = "99454" if len(days) >= 16 else "99445" if len(days) >= 2 else None
    assert [line.code for line in supply] == ([expected] if expected else [])
    assert all(line.units == 1 for line in supply)


@given(a=st.integers(0, 120), b=st.integers(0, 120))
def test_more_minutes_never_bill_fewer_units(a, b):
    low, high = sorted((a, b))

    def units(minutes: int) -> int:
        return sum(line.units for line in management([entry(minutes)]).lines) if minutes else 0

    assert units(low) <= units(high)
