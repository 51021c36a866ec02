"""Interprofessional consultation codes (e-consults) by year, and the pure rule that picks them.

Sources checked (December 2026), summarised in our own words, never the CPT descriptors:
- 99446-99449 (CPT 2014): the consultant's assessment and management by telephone, internet
  or EHR with a verbal and a written report to the requesting clinician, by the consultant's
  cumulative time: 5-10, 11-20, 21-30, 31 or more minutes; more than half of it consultative
  discussion rather than review of data (AAP, "Expanding non-face-to-face care:
  interprofessional consultation"; MGMA, "Making sense of CPT codes 99446-99452").
- 99451 (CPT 2019): the same service with a written report only, 5 minutes or more of
  consultative time (record review counts); 99452 (CPT 2019): the requesting clinician's
  referral work (preparing the request, talking with the consultant), a 30-minute service that
  Medicare pays from 16 minutes (CY 2019 PFS final rule, CMS-1693-F; AAP News, January 2019).
- All: not reported when the consultant saw the patient face to face in the 14 days before or
  the e-consult ends in a transfer of care or visit with the consultant soon after; the
  consultant's codes at most once per 7 days per patient and 99452 once per 14 days; Medicare
  needs the patient's consent, recorded by the requesting clinician, before the e-consult
  (CMS-1693-F). These limits are data below for the claim side; the time rule is `codes`.
Confirm against the payer's policy.
"""

from dataclasses import dataclass
from datetime import date

from billing.rules.records import CODE, SUMMARY_MAX, RuleDataError, check_minute_ranges


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuleDataError(message)


@dataclass(frozen=True)
class TimeBand:
    """One code for `min_minutes`..`max_minutes` of cumulative time (None: no ceiling)."""

    code: str
    min_minutes: int
    max_minutes: int | None
    summary: str

    def validate(self) -> None:
        _check(bool(CODE.match(self.code)), f"{self.code!r} is not a five-character code")
        _check(bool(self.summary.strip()), f"{self.code}: a plain-language summary is required")
        _check(len(self.summary) <= SUMMARY_MAX, f"{self.code}: keep the summary short")
        ceiling = self.max_minutes if self.max_minutes is not None else self.min_minutes
        _check(0 < self.min_minutes <= ceiling, f"{self.code}: bad minute range")

    def covers(self, minutes: int) -> bool:
        return self.min_minutes <= minutes and (
            self.max_minutes is None or minutes <= self.max_minutes
        )


@dataclass(frozen=True)
class ConsultMinutes:
    """What the rule needs of one e-consult (visits.econsult_selectors.consult_minutes gives
    it): the consultant's cumulative minutes and how many of them were discussion, whether a
    verbal report was given, whether the written answer was sent, the requester's minutes."""

    specialist: int
    specialist_discussion: int
    verbal_report: bool
    answered: bool
    requester: int


@dataclass(frozen=True)
class InterprofessionalRuleSet:
    effective_from: date
    verbal_and_written: tuple[TimeBand, ...]  # fewest minutes first, ranges touching
    written_only: TimeBand
    requesting: TimeBand
    discussion_share: float  # more than this share of the consultant's time is discussion
    consultant_once_per_days: int
    requesting_once_per_days: int
    no_visit_within_days: int
    source: str

    def validate(self) -> None:
        label = f"interprofessional rules from {self.effective_from}"
        _check(bool(self.source.strip()), f"{label}: cite a source")
        for band in (*self.verbal_and_written, self.written_only, self.requesting):
            band.validate()
        check_minute_ranges(
            label,
            "consultant",
            self.verbal_and_written,
            other_codes=(self.written_only.code, self.requesting.code),
        )
        _check(0 < self.discussion_share < 1, f"{label}: the discussion share is a fraction")
        for days in (
            self.consultant_once_per_days,
            self.requesting_once_per_days,
            self.no_visit_within_days,
        ):
            _check(days > 0, f"{label}: day limits must be positive")

    def consultant_code(self, minutes: ConsultMinutes) -> TimeBand | None:
        """The consultant's code: none before the written answer or under the first band;
        a verbal-and-written code when a verbal report was given and discussion was more than
        the required share of the time; otherwise the written-report code."""
        if not minutes.answered:
            return None
        total = minutes.specialist
        discussed = minutes.specialist_discussion > self.discussion_share * total
        if minutes.verbal_report and discussed:
            for band in self.verbal_and_written:
                if band.covers(total):
                    return band
            return None
        return self.written_only if self.written_only.covers(total) else None

    def requesting_code(self, minutes: ConsultMinutes) -> TimeBand | None:
        """The requester's referral code: one unit from its minimum, whatever the time above
        (the code is one 30-minute service)."""
        if minutes.requester >= self.requesting.min_minutes:
            return self.requesting
        return None

    def codes(self, minutes: ConsultMinutes) -> tuple[str, ...]:
        found = (self.consultant_code(minutes), self.requesting_code(minutes))
        return tuple(band.code for band in found if band is not None)


CONSULTANT_BANDS = (
    TimeBand("99446", 5, 10, "E-consult answered with verbal and written report, 5-10 minutes"),
    TimeBand("99447", 11, 20, "E-consult answered with verbal and written report, 11-20 minutes"),
    TimeBand("99448", 21, 30, "E-consult answered with verbal and written report, 21-30 minutes"),
    TimeBand("99449", 31, None, "E-consult answered with verbal and written report, 31+ minutes"),
)
WRITTEN_ONLY = TimeBand("99451", 5, None, "E-consult answered with a written report, 5+ minutes")
REQUESTING = TimeBand("99452", 16, None, "E-consult requested and discussed, 16+ minutes")

INTERPROFESSIONAL_RULE_SETS: tuple[InterprofessionalRuleSet, ...] = (
    InterprofessionalRuleSet(
        effective_from=date(2019, 1, 1),
        verbal_and_written=CONSULTANT_BANDS,
        written_only=WRITTEN_ONLY,
        requesting=REQUESTING,
        discussion_share=0.5,
        consultant_once_per_days=7,
        requesting_once_per_days=14,
        no_visit_within_days=14,
        source="CPT 2014 (99446-99449) and CPT 2019 (99451, 99452); CY 2019 PFS (CMS-1693-F)",
    ),
)
