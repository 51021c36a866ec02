"""How a monitored patient stands today against the monitoring codes, and whether staff should
act: pure functions over rpm's figures, no database.

Two clocks, as in billing.monitoring: device supply counts days with readings in the current
30-day period from the start of monitoring; treatment management counts the billing
practitioner's minutes in the current calendar month.

"Close to a threshold" is data (DUE_WINDOW), not literals in the code:
- a device-supply threshold is close when it is not met yet, can still be met (the days still
  needed fit in the days left) and there is little room to spare: at most
  `spare_days_at_most` days may still go without a reading, or the period ends within
  `period_ends_within` days. 14 days with readings and 5 days left need 2 of the 5 (3 spare):
  close. 16 days: met. 2 days with 1 day left: 99445 met, 16 days out of reach: nothing to do.
  Early in a period (2 days with readings, 27 left) nothing is close yet: there is time.
- a treatment-management threshold (the next of 10/20/40 minutes, from the rules) is close when
  the calendar month ends within `month_ends_within` days and at most `minutes_short_at_most`
  minutes are missing: one more contact reaches it.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from billing.monitoring import (
    MonitoringPeriod,
    TimeEntry,
    billing_practitioner,
    month_of,
    period_containing,
    reading_days,
)
from billing.rules import NoRulesError, monitoring_rules_on


@dataclass(frozen=True)
class DueWindow:
    """When a threshold counts as close; see the module's docstring."""

    spare_days_at_most: int
    period_ends_within: int
    month_ends_within: int
    minutes_short_at_most: int


DUE_WINDOW = DueWindow(
    spare_days_at_most=3, period_ends_within=7, month_ends_within=7, minutes_short_at_most=10
)


@dataclass(frozen=True)
class SupplyTarget:
    """A device-supply code's day threshold in the current period."""

    code: str
    min_days: int
    days_needed: int  # more days with readings to reach it; 0 when met
    days_left: int  # days that can still add a reading, today included if it has none
    close: bool

    @property
    def met(self) -> bool:
        return self.days_needed == 0

    @property
    def reachable(self) -> bool:
        return self.days_needed <= self.days_left

    @property
    def state(self) -> str:
        if self.met:
            return "met"
        return "close" if self.close else ("on_track" if self.reachable else "out_of_reach")


@dataclass(frozen=True)
class ManagementTarget:
    """A treatment-management code's minute threshold in the current calendar month."""

    code: str
    min_minutes: int
    minutes_needed: int  # 0 when met
    close: bool

    @property
    def met(self) -> bool:
        return self.minutes_needed == 0

    @property
    def state(self) -> str:
        return "met" if self.met else ("close" if self.close else "open")


@dataclass(frozen=True)
class MonitoringStanding:
    period: MonitoringPeriod
    days_with_readings: int
    days_left: int
    supply: tuple[SupplyTarget, ...]
    month_first: date
    month_days_left: int  # calendar days to the month's end, today included
    minutes: int  # the billing practitioner's minutes this month: the ones that count
    minutes_logged: int  # everyone's minutes this month
    interactive: bool  # the billing practitioner had an interactive contact this month
    management: tuple[ManagementTarget, ...]

    @property
    def close(self) -> bool:
        return any(t.close for t in self.supply) or any(t.close for t in self.management)

    @property
    def supply_met(self) -> list[str]:
        return [t.code for t in self.supply if t.met]

    @property
    def supply_open(self) -> list[SupplyTarget]:
        return [t for t in self.supply if not t.met]

    @property
    def management_met(self) -> list[str]:
        return [t.code for t in self.management if t.met]

    @property
    def next_supply(self) -> SupplyTarget | None:
        """The lowest threshold not met yet that can still be met."""
        return next((t for t in self.supply if not t.met and t.reachable), None)

    @property
    def next_management(self) -> ManagementTarget | None:
        return next((t for t in self.management if not t.met), None)


def supply_targets(
    *, period: MonitoringPeriod, days: int, days_left: int, today: date, window: DueWindow
) -> tuple[SupplyTarget, ...]:
    try:
        rules = monitoring_rules_on(period.end)
    except NoRulesError:
        return ()
    ends_in = (period.end - today).days + 1
    targets = []
    for code in rules.device_supply:
        needed = max(0, code.min_days - days)
        close = 0 < needed <= days_left and (
            days_left - needed <= window.spare_days_at_most or ends_in <= window.period_ends_within
        )
        targets.append(SupplyTarget(code.code, code.min_days, needed, days_left, close))
    return tuple(targets)


def management_targets(
    *, month_first: date, minutes: int, month_days_left: int, window: DueWindow
) -> tuple[ManagementTarget, ...]:
    """Each management code's threshold, then the first further unit (20 + 20 minutes)."""
    try:
        rules = monitoring_rules_on(month_first)
    except NoRulesError:
        return ()
    thresholds = [(code.code, code.min_minutes) for code in rules.management]
    thresholds.append(
        (rules.further_code, rules.full_management.min_minutes + rules.further_minutes)
    )
    ending = month_days_left <= window.month_ends_within
    targets = []
    for code, threshold in thresholds:
        needed = max(0, threshold - minutes)
        targets.append(ManagementTarget(code, threshold, needed, False))
    # Only the next threshold can be close: a later one needs the next one first.
    following = next((i for i, t in enumerate(targets) if not t.met), None)
    if following is not None and ending:
        target = targets[following]
        if target.minutes_needed <= window.minutes_short_at_most:
            targets[following] = ManagementTarget(
                target.code, target.min_minutes, target.minutes_needed, True
            )
    return tuple(targets)


def standing(
    *,
    start: date,
    readings: Mapping[str, Iterable[date]],
    entries: Iterable[TimeEntry],
    today: date,
    window: DueWindow = DUE_WINDOW,
) -> MonitoringStanding:
    """Where the patient stands today. `readings` maps each device to its local days with
    readings (at least the current period's); `entries` are this month's time logs (others are
    ignored). Precondition: `start` <= `today`."""
    period = period_containing(start=start, day=today)
    days = {day for day in reading_days(readings, period) if day <= today}
    days_left = (period.end - today).days + (0 if today in days else 1)
    first, last = month_of(today.year, today.month)
    in_month = [entry for entry in entries if first <= entry.day <= last]
    chosen = billing_practitioner(in_month)
    minutes = chosen[2] if chosen else 0
    interactive = chosen is not None and any(
        entry.interactive for entry in in_month if entry.practitioner == chosen[0]
    )
    month_days_left = (last - today).days + 1
    return MonitoringStanding(
        period=period,
        days_with_readings=len(days),
        days_left=days_left,
        supply=supply_targets(
            period=period, days=len(days), days_left=days_left, today=today, window=window
        ),
        month_first=first,
        month_days_left=month_days_left,
        minutes=minutes,
        minutes_logged=sum(entry.minutes for entry in in_month),
        interactive=interactive,
        management=management_targets(
            month_first=first, minutes=minutes, month_days_left=month_days_left, window=window
        ),
    )


def month_window(today: date) -> tuple[date, date]:
    """The calendar month of `today`, first and last day."""
    first = today.replace(day=1)
    return first, month_of(first.year, first.month)[1]
