"""Codes for an e-consult (a case one clinician sends a specialist), from plain figures: pure
functions, no database.

visits gives the figures (the dates the case was sent and answered, both sides' minutes, the
days the specialist saw the patient in a live visit around it); billing gives the days the
patient's earlier e-consults were billed. These functions turn them into each side's lines
with reasons. The codes and their limits are data in billing/rules/interprofessional.py.

- The specialist: 99446-99449 by cumulative minutes when a verbal report was also given and
  more than the rule's share of the time was discussion, otherwise 99451 (written report);
  nothing under the first band, nothing when the specialist saw the patient face to face in
  the days before the case or soon after it (the service is part of that visit), nothing when
  the patient's e-consult was billed for a specialist within the once-per days.
- The requester: 99452 from its minimum minutes, once per its own once-per days.
- Not telehealth: no modifier, and the place of service is the office's.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.rules import NoRulesError, interprofessional_rules_on
from billing.rules.interprofessional import ConsultMinutes, InterprofessionalRuleSet, TimeBand
from billing.rules.records import PayerProfile
from billing.suggestions import NotBilled, SuggestedLine, Suggestion, minute_span


class Side(StrEnum):
    SPECIALIST = "specialist"
    REQUESTER = "requester"


@dataclass(frozen=True)
class ConsultFacts:
    sent_on: date
    answered_on: date | None
    minutes: ConsultMinutes
    work_days: tuple[date, ...]  # the days this side recorded time
    specialist_visit_days: tuple[date, ...]  # live visits of the patient with the specialist
    billed_days: tuple[date, ...]  # dates of service of this side's earlier e-consult codes
    payer: PayerProfile


@dataclass(frozen=True)
class ConsultAssessment:
    side: Side
    minutes: int
    date_of_service: date | None
    suggestion: Suggestion
    rules_version: str


def rules_for(sent_on: date) -> InterprofessionalRuleSet:
    """The rules of a case: those in force on the day it was sent (NoRulesError before the
    first)."""
    return interprofessional_rules_on(sent_on)


def requester_reaches(minutes: int, sent_on: date) -> bool:
    """Whether the requester's minutes reach the referral code (their encounter is built)."""
    try:
        return minutes >= rules_for(sent_on).requesting.min_minutes
    except NoRulesError:
        return False


def window_end(rules: InterprofessionalRuleSet, answered_on: date) -> date:
    """The last day a live visit with the specialist still counts against the case: until it
    has passed, the codes can change and the pull waits."""
    return answered_on + timedelta(days=rules.no_visit_within_days)


def all_codes(rules: InterprofessionalRuleSet, side: Side) -> tuple[str, ...]:
    if side == Side.REQUESTER:
        return (rules.requesting.code,)
    return (*(band.code for band in rules.verbal_and_written), rules.written_only.code)


def assess(facts: ConsultFacts, side: Side) -> ConsultAssessment:
    minutes = facts.minutes.specialist if side == Side.SPECIALIST else facts.minutes.requester
    try:
        rules = rules_for(facts.sent_on)
    except NoRulesError as error:
        reason = _("No e-consult coding rules for dates before %(day)s.") % {"day": error.first}
        return ConsultAssessment(side, minutes, None, _refused(None, reason), "")
    if side == Side.SPECIALIST:
        day = facts.answered_on
        suggestion = specialist_suggestion(facts, rules)
    else:
        day = max(facts.work_days) if facts.work_days else facts.sent_on
        suggestion = requester_suggestion(facts, rules)
    return ConsultAssessment(
        side=side,
        minutes=minutes,
        date_of_service=day,
        suggestion=suggestion,
        rules_version=f"interprofessional {rules.effective_from.isoformat()}; "
        f"{facts.payer.key} {facts.payer.effective_from.isoformat()}",
    )


def specialist_suggestion(facts: ConsultFacts, rules: InterprofessionalRuleSet) -> Suggestion:
    minutes = facts.minutes
    if not minutes.answered or facts.answered_on is None:
        return _refused(None, _("Not answered yet: the specialist's code needs the answer."))
    band = rules.consultant_code(minutes)
    lowest = rules.written_only
    if band is None:
        reason = _("%(minutes)s recorded: below the %(least)d minutes of %(code)s.") % {
            "minutes": _minutes(minutes.specialist),
            "least": min(lowest.min_minutes, rules.verbal_and_written[0].min_minutes),
            "code": lowest.code,
        }
        return _refused(None, reason)
    refusal = _visit_refusal(facts, rules) or _once_refusal(
        facts, rules.consultant_once_per_days, facts.answered_on
    )
    if refusal:
        return _refused(band.code, refusal)
    if band == lowest:
        reason = _("%(minutes)s, written report: %(span)s (e-consult answer).") % {
            "minutes": _minutes(minutes.specialist),
            "span": minute_span(band.min_minutes, None),
        }
        if minutes.verbal_report:
            reason += " " + _(
                "A verbal report too, but discussion was not more than half of the time: "
                "the verbal-and-written codes do not apply."
            )
    else:
        reason = _("%(minutes)s with a verbal and a written report: %(span)s.") % {
            "minutes": _minutes(minutes.specialist),
            "span": _span(band),
        }
    return _line(facts, band, reason)


def requester_suggestion(facts: ConsultFacts, rules: InterprofessionalRuleSet) -> Suggestion:
    band = rules.requesting
    if facts.minutes.requester < band.min_minutes:
        reason = _("%(minutes)s recorded: below the %(least)d minutes of %(code)s.") % {
            "minutes": _minutes(facts.minutes.requester),
            "least": band.min_minutes,
            "code": band.code,
        }
        return _refused(band.code, reason)
    day = max(facts.work_days) if facts.work_days else facts.sent_on
    refusal = _once_refusal(facts, rules.requesting_once_per_days, day)
    if refusal:
        return _refused(band.code, refusal)
    reason = _("%(minutes)s preparing the request and discussing it with the specialist.") % {
        "minutes": _minutes(facts.minutes.requester)
    }
    return _line(facts, band, reason)


def _visit_refusal(facts: ConsultFacts, rules: InterprofessionalRuleSet) -> str | None:
    """The specialist saw the patient face to face in the days before the case, or soon after
    the answer (a transfer of care or a visit): the e-consult is part of that visit."""
    assert facts.answered_on is not None
    days = rules.no_visit_within_days
    first, last = facts.sent_on - timedelta(days=days), window_end(rules, facts.answered_on)
    seen = sorted(day for day in facts.specialist_visit_days if first <= day <= last)
    if not seen:
        return None
    return _(
        "The specialist saw the patient in a visit on %(day)s, within %(days)d days of the "
        "e-consult: it is part of that visit, not billed separately."
    ) % {"day": _day(seen[0]), "days": days}


def _once_refusal(facts: ConsultFacts, once_per_days: int, day: date) -> str | None:
    earlier = sorted(d for d in facts.billed_days if abs((day - d).days) < once_per_days)
    if not earlier:
        return None
    return _(
        "Already billed for this patient on %(day)s: once per %(days)d days. Check the other "
        "e-consult's encounter."
    ) % {"day": _day(earlier[0]), "days": once_per_days}


def _line(facts: ConsultFacts, band: TimeBand, reason: str) -> Suggestion:
    line = SuggestedLine(band.code, (), facts.payer.pos_in_person, 1, reason)
    return Suggestion(lines=(line,))


def _span(band: TimeBand) -> str:
    following = None if band.max_minutes is None else band.max_minutes + 1
    return minute_span(band.min_minutes, following)


def _refused(code: str | None, reason: str) -> Suggestion:
    return Suggestion(not_billed=(NotBilled(code, reason),))


def _minutes(count: int) -> str:
    return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}


def _day(day: date) -> str:
    return date_format(day, "j M Y")
