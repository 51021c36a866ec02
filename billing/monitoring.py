"""Remote monitoring codes from plain figures: pure functions, no database.

rpm gives the figures (days with readings per device, as local dates; time-log entries; the
date monitoring started); these functions turn them into lines with reasons. The codes and
thresholds are data in billing/rules/monitoring.py, with their sources.

Two clocks, as the codes require:
- device supply and setup count 30-day periods from the start of monitoring (day 1-30 is
  period 1, day 31-60 period 2, ...), never calendar months. A period is dated by its last day,
  which also picks the year's rule set;
- treatment management counts calendar months.

One practitioner per period: a month's treatment management is billed by the practitioner who
logged the most minutes in it (ties go to the lower practitioner id, so the answer is stable),
and only that practitioner's minutes count; the reason says so.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.rules import NoRulesError, monitoring_rules_on
from billing.rules.records import MonitoringRuleSet
from billing.suggestions import NotBilled, SuggestedLine, Suggestion, minute_span


@dataclass(frozen=True)
class MonitoringPeriod:
    number: int  # 1 for the period starting on the first day of monitoring
    start: date
    end: date  # inclusive

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def __str__(self) -> str:
        return _("period %(number)d (%(start)s to %(end)s)") % {
            "number": self.number,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class TimeEntry:
    day: date
    minutes: int
    interactive: bool
    practitioner: int
    practitioner_name: str


def period_days(on: date) -> int:
    return monitoring_rules_on(on).period_days


def period_containing(*, start: date, day: date) -> MonitoringPeriod:
    if day < start:
        raise ValueError(f"{day} is before monitoring started on {start}.")
    length = period_days(start)
    index = (day - start).days // length
    first = start + timedelta(days=index * length)
    return MonitoringPeriod(index + 1, first, first + timedelta(days=length - 1))


def periods_until(*, start: date, until: date) -> list[MonitoringPeriod]:
    """Every period that has begun by `until`, oldest first."""
    if until < start:
        return []
    last = period_containing(start=start, day=until)
    length = period_days(start)
    return [
        MonitoringPeriod(
            n, start + timedelta(days=(n - 1) * length), start + timedelta(days=n * length - 1)
        )
        for n in range(1, last.number + 1)
    ]


def reading_days(readings: Mapping[str, Iterable[date]], period: MonitoringPeriod) -> set[date]:
    """Days with a reading from any device: two devices on one day make one day."""
    return {day for days in readings.values() for day in days if period.contains(day)}


def period_lines(
    *,
    period: MonitoringPeriod,
    readings: Mapping[str, Iterable[date]],
    as_of: date,
    place_of_service: str,
) -> Suggestion:
    """Device supply for one period, and setup in the first period of the episode.

    `readings` maps each device to the local dates it sent readings on. A period still open on
    `as_of` is billed only once it has reached full device supply (more days cannot change the
    code); otherwise it waits for its last day."""
    try:
        rules = monitoring_rules_on(period.end)
    except NoRulesError as error:
        return Suggestion(not_billed=(NotBilled(None, _no_rules(error)),))
    readings = {device: set(days) for device, days in readings.items()}
    days = len(reading_days(readings, period))
    if as_of <= period.end and days < rules.full_supply.min_days:
        waiting = ngettext(
            "%(period)s is still open: %(count)d day with readings so far.",
            "%(period)s is still open: %(count)d days with readings so far.",
            days,
        ) % {"period": period, "count": days}
        return Suggestion(not_billed=(NotBilled(None, waiting),))
    devices = _devices_sending(readings, period)
    supply = device_supply(rules, period, days, devices=devices, place=place_of_service)
    return supply + setup(rules, period, days, place=place_of_service)


def _no_rules(error: NoRulesError) -> str:
    return _("No monitoring rules for dates before %(day)s.") % {"day": error.first}


def _devices_sending(readings: Mapping[str, Iterable[date]], period: MonitoringPeriod) -> int:
    return sum(1 for days in readings.values() if any(period.contains(day) for day in days))


def device_supply(
    rules: MonitoringRuleSet, period: MonitoringPeriod, days: int, *, devices: int, place: str
) -> Suggestion:
    code = next((c for c in rules.device_supply if c.min_days <= days <= c.max_days), None)
    words = {"count": days, "period": period}
    if code is None:
        reason = ngettext(
            "%(count)d day with readings in %(period)s: below the %(shortest)d days of the "
            "shortest device-supply code.",
            "%(count)d days with readings in %(period)s: below the %(shortest)d days of the "
            "shortest device-supply code.",
            days,
        ) % {**words, "shortest": rules.device_supply[0].min_days}
        return Suggestion(not_billed=(NotBilled(None, reason),))
    reason = ngettext(
        "%(count)d day with readings in %(period)s: %(low)d-%(high)d days in a %(length)d-day "
        "period.",
        "%(count)d days with readings in %(period)s: %(low)d-%(high)d days in a %(length)d-day "
        "period.",
        days,
    ) % {**words, "low": code.min_days, "high": code.max_days, "length": rules.period_days}
    if devices > 1:
        reason += " " + _(
            "One unit for the patient although %(devices)d devices sent readings."
        ) % {"devices": devices}
    return Suggestion(lines=(SuggestedLine(code.code, (), place, 1, reason),))


def setup(
    rules: MonitoringRuleSet, period: MonitoringPeriod, days: int, *, place: str
) -> Suggestion:
    """Setup is billed once per episode, with the first period."""
    if period.number != 1:
        return Suggestion()
    words = {"count": days, "needed": rules.setup_min_days}
    if days < rules.setup_min_days:
        reason = (
            _("Setup needs %(needed)d days with readings in the first period; %(count)d recorded.")
            % words
        )
        return Suggestion(not_billed=(NotBilled(rules.setup_code, reason),))
    reason = (
        _(
            "First period of this monitoring episode, with %(count)d days with readings "
            "(%(needed)d needed); billed once per episode."
        )
        % words
    )
    return Suggestion(lines=(SuggestedLine(rules.setup_code, (), place, 1, reason),))


def month_of(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def billing_practitioner(entries: Iterable[TimeEntry]) -> tuple[int, str, int] | None:
    """(id, name, minutes) of the practitioner with the most minutes; lower id on a tie."""
    minutes: dict[int, int] = defaultdict(int)
    names: dict[int, str] = {}
    for entry in entries:
        minutes[entry.practitioner] += entry.minutes
        names[entry.practitioner] = entry.practitioner_name
    if not minutes:
        return None
    chosen = min(minutes, key=lambda practitioner: (-minutes[practitioner], practitioner))
    return chosen, names[chosen], minutes[chosen]


def treatment_management(
    *, year: int, month: int, entries: Iterable[TimeEntry], place_of_service: str
) -> Suggestion:
    """Treatment management for a calendar month, billed by one practitioner."""
    first, last = month_of(year, month)
    try:
        rules = monitoring_rules_on(first)
    except NoRulesError as error:
        return Suggestion(not_billed=(NotBilled(None, _no_rules(error)),))
    in_month = [entry for entry in entries if first <= entry.day <= last]
    label = date_format(first, "F Y")
    chosen = billing_practitioner(in_month)
    if chosen is None:
        reason = _("No time logged in %(month)s.") % {"month": label}
        return Suggestion(not_billed=(NotBilled(None, reason),))
    practitioner, name, minutes = chosen
    total = sum(entry.minutes for entry in in_month)
    words = {"name": name, "month": label, "minutes": minutes, "total": total}
    who = (
        _(
            "Billed by %(name)s, who logged the most time in %(month)s (%(minutes)d of "
            "%(total)d minutes)."
        )
        % words
    )
    if minutes < total:
        who += " " + _("Other practitioners' time is not counted.")
    own = [entry for entry in in_month if entry.practitioner == practitioner]
    if not any(entry.interactive for entry in own):
        reason = _("%(minutes)d minutes by %(name)s in %(month)s but no interactive contact.") % (
            words
        )
        return Suggestion(not_billed=(NotBilled(None, f"{reason} {who}"),))
    return management_lines(rules, minutes, label=label, who=who, place=place_of_service)


def management_lines(
    rules: MonitoringRuleSet, minutes: int, *, label: str, who: str, place: str
) -> Suggestion:
    code = next(
        (
            c
            for c in rules.management
            if c.min_minutes <= minutes and (c.max_minutes is None or minutes <= c.max_minutes)
        ),
        None,
    )
    words = {"minutes": minutes, "month": label}
    if code is None:
        reason = _(
            "%(minutes)d minutes in %(month)s: below the %(shortest)d minutes of the shortest "
            "treatment-management code."
        ) % {**words, "shortest": rules.management[0].min_minutes}
        return Suggestion(not_billed=(NotBilled(None, f"{reason} {who}"),))
    following = None if code.max_minutes is None else code.max_minutes + 1
    reason = _("%(minutes)d minutes with an interactive contact in %(month)s: %(span)s.") % {
        **words,
        "span": minute_span(code.min_minutes, following),
    }
    first_line = SuggestedLine(code.code, (), place, 1, f"{reason} {who}")
    full = rules.full_management
    further = (minutes - full.min_minutes) // rules.further_minutes if code == full else 0
    if further < 1:
        return Suggestion(lines=(first_line,))
    reason = _(
        "%(minutes)d minutes in %(month)s: %(blocks)d further full %(block)d minutes beyond the "
        "first %(first)d."
    ) % {**words, "blocks": further, "block": rules.further_minutes, "first": full.min_minutes}
    return Suggestion(
        lines=(first_line, SuggestedLine(rules.further_code, (), place, further, reason))
    )
