"""Codes for an e-visit (a patient-initiated online case), from plain figures: pure functions,
no database.

visits gives the figures (when the clinician first reviewed the case, the minutes recorded by
work date, photos, whether the case was escalated, the days of the patient's live visits
around it); these functions turn them into lines with reasons. The codes and their limits are
data in billing/rules/online.py, with their sources.

- The online E/M codes count the minutes in the 7 days that open with the clinician's first
  review; minutes recorded after the period are not counted, and the reason says so.
- Established patients only; not billed when the case was escalated to a live visit or a live
  visit took place within the period (its minutes count toward that visit), nor when a visit
  in the 7 days before may have addressed the same problem (a person decides: the line is left
  out with the reason, to be added by hand when the visit was unrelated).
- Photos reviewed in a case too short for the online E/M codes: G2010, where the payer pays
  Medicare's HCPCS codes. G2252 needs a live conversation, which an e-visit is not.
- Not telehealth: no modifier, and the place of service is the office's.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.rules import NoRulesError, online_codes_on
from billing.rules.online import MinuteRange, OnlineCodeSet
from billing.rules.records import PatientStatus, PayerProfile
from billing.suggestions import NotBilled, SuggestedLine, Suggestion, minute_span


@dataclass(frozen=True)
class OnlineFacts:
    first_review: date | None  # the practice's local date of the clinician's first action
    entries: tuple[tuple[date, int], ...]  # (work date, minutes) as recorded
    payer: PayerProfile
    patient_status: PatientStatus
    photos: int = 0
    escalated: bool = False
    visits_before: tuple[date, ...] = ()  # live visits in the look-back before the first review
    visits_within: tuple[date, ...] = ()  # live visits inside the period
    recorded: int = field(init=False)

    def __post_init__(self) -> None:
        if any(minutes < 0 for _day, minutes in self.entries):
            raise ValueError("Minutes cannot be negative.")
        object.__setattr__(self, "recorded", sum(minutes for _day, minutes in self.entries))


@dataclass(frozen=True)
class OnlineAssessment:
    """What the case is worth: the period, its minutes and the suggestion."""

    period: tuple[date, date] | None
    minutes: int
    recorded: int
    date_of_service: date | None
    suggestion: Suggestion
    rules_version: str


def period_of(code_set: OnlineCodeSet, first: date) -> tuple[date, date]:
    return first, first + timedelta(days=code_set.period_days - 1)


def minutes_within(entries: tuple[tuple[date, int], ...], period: tuple[date, date]) -> int:
    return sum(minutes for day, minutes in entries if period[0] <= day <= period[1])


def assess(facts: OnlineFacts) -> OnlineAssessment:
    if facts.first_review is None:
        reason = _("No clinician has reviewed the case yet: the 7-day period has not begun.")
        return OnlineAssessment(None, 0, facts.recorded, None, _refused(None, reason), "")
    try:
        code_set = online_codes_on(facts.first_review)
    except NoRulesError as error:
        reason = _("No online visit coding rules for dates before %(day)s.") % {"day": error.first}
        return OnlineAssessment(
            None, 0, facts.recorded, facts.first_review, _refused(None, reason), ""
        )
    period = period_of(code_set, facts.first_review)
    minutes = minutes_within(facts.entries, period)
    worked = [day for day, _m in facts.entries if period[0] <= day <= period[1]]
    day = max(worked) if worked else facts.first_review
    return OnlineAssessment(
        period=period,
        minutes=minutes,
        recorded=facts.recorded,
        date_of_service=day,
        suggestion=suggest(facts, code_set, period, minutes),
        rules_version=f"online codes {code_set.effective_from.isoformat()}; "
        f"{facts.payer.key} {facts.payer.effective_from.isoformat()}",
    )


def suggest(
    facts: OnlineFacts, code_set: OnlineCodeSet, period: tuple[date, date], minutes: int
) -> Suggestion:
    level = code_set.level_for(minutes)
    code: MinuteRange | None = level
    if level is None and facts.photos:
        code = code_set.image_review
    words = {
        "minutes": _minutes(minutes),
        "start": _day(period[0]),
        "end": _day(period[1]),
        "shortest": code_set.shortest.min_minutes,
        "code": code_set.shortest.code,
    }
    refusal = refusal_for(facts, code_set, period)
    if refusal is not None:
        return _refused(code.code if code else None, refusal)
    if code is None:
        reason = (
            _("%(minutes)s from %(start)s to %(end)s: below the %(shortest)d minutes of %(code)s.")
            % words
        )
        return _refused(None, reason)
    review = consent_review(facts, code_set)
    if level is None:
        return image_review(facts, code_set, words=words, review=review)
    following = None if level.max_minutes is None else level.max_minutes + 1
    reason = _("%(minutes)s from %(start)s to %(end)s: %(span)s over 7 days (online E/M).") % {
        **words,
        "span": minute_span(level.min_minutes, following),
    }
    reason += _outside(facts, minutes)
    line = SuggestedLine(level.code, (), facts.payer.pos_in_person, 1, reason)
    return Suggestion(lines=(line,), needs_review=review)


def image_review(
    facts: OnlineFacts, code_set: OnlineCodeSet, *, words: dict, review: tuple[str, ...]
) -> Suggestion:
    code = code_set.image_review
    if facts.payer.kind not in code_set.hcpcs_payers:
        reason = _(
            "Photos reviewed, %(minutes)s: %(payer)s may not pay Medicare's %(image)s; add it by "
            "hand if the payer's policy does."
        ) % {**words, "payer": _(facts.payer.name), "image": code.code}
        return _refused(code.code, reason)
    reason = ngettext(
        "%(count)d photo reviewed; %(minutes)s from %(start)s to %(end)s, below the %(shortest)d "
        "minutes of %(code)s.",
        "%(count)d photos reviewed; %(minutes)s from %(start)s to %(end)s, below the "
        "%(shortest)d minutes of %(code)s.",
        facts.photos,
    ) % {**words, "count": facts.photos}
    follow_up = _(
        "%(image)s needs a follow-up with the patient within 24 business hours of the review: "
        "confirm the response went out in time."
    ) % {"image": code.code}
    line = SuggestedLine(code.code, (), facts.payer.pos_in_person, 1, reason)
    return Suggestion(lines=(line,), needs_review=(*review, follow_up))


def refusal_for(
    facts: OnlineFacts, code_set: OnlineCodeSet, period: tuple[date, date]
) -> str | None:
    """Why the case is not billed separately at all, if it is not."""
    if facts.patient_status == PatientStatus.NEW:
        return _(
            "A new patient (no visit in the practice in the three years before): online visit "
            "codes are for established patients."
        )
    if facts.escalated:
        return _(
            "Escalated to a live visit: the minutes count toward that visit, not billed separately."
        )
    within = sorted(day for day in facts.visits_within if period[0] <= day <= period[1])
    if within:
        return _(
            "A live visit on %(day)s, within the 7 days: the minutes count toward that visit, "
            "not billed separately."
        ) % {"day": _day(within[0])}
    earliest = period[0] - timedelta(days=code_set.related_days_before)
    before = sorted(day for day in facts.visits_before if earliest <= day < period[0])
    if before:
        return _(
            "A live visit on %(day)s, in the %(days)d days before the first review: if it "
            "addressed this problem the case is not billed; if it did not, add the line by hand."
        ) % {"day": _day(before[-1]), "days": code_set.related_days_before}
    return None


def consent_review(facts: OnlineFacts, code_set: OnlineCodeSet) -> tuple[str, ...]:
    if facts.payer.kind not in code_set.consent_payers:
        return ()
    return (
        _(
            "%(payer)s needs the patient's consent to online services on file (once a year): "
            "confirm it."
        )
        % {"payer": _(facts.payer.name)},
    )


def _outside(facts: OnlineFacts, minutes: int) -> str:
    outside = facts.recorded - minutes
    if not outside:
        return ""
    return " " + ngettext(
        "%(count)d minute recorded outside the period is not counted.",
        "%(count)d minutes recorded outside the period are not counted.",
        outside,
    ) % {"count": outside}


def _refused(code: str | None, reason: str) -> Suggestion:
    return Suggestion(not_billed=(NotBilled(code, reason),))


def _minutes(count: int) -> str:
    return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}


def _day(day: date) -> str:
    return date_format(day, "j M Y")
