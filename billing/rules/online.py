"""Online digital E/M (patient-initiated e-visits) and the communication technology-based
services, by year, with the shapes of their data.

Sources checked (December 2026):
- 99421 (5-10 minutes), 99422 (11-20), 99423 (21 or more): an online digital evaluation and
  management service for an established patient, patient-initiated through a secure portal,
  reported once for the clinician's cumulative time over up to 7 days. The period starts with
  the clinician's initial personal review of the inquiry; under 5 minutes is not reported;
  clinical staff time does not count. Not reported when the patient had a related E/M service
  in the 7 days before; when a separately reported E/M visit follows within the 7 days, the
  time is part of that visit (CPT 2020 guidelines, summarised by AAPC, "CPT 2020 update: online
  digital E/M guidelines", and the American Academy of Dermatology, "AMA CPT releases new online
  digital E/M services codes", 2020). Medicare pays them from 2020 (CY 2020 PFS final rule).
- They are not Medicare telehealth services: no POS 02/10 and no modifier 95; the place of
  service is where the clinician would furnish the service in person. Medicare requires the
  patient's consent to communication technology-based services, which may be obtained once a
  year for all of them (CodingIntel, "CPT codes for online digital evaluation and management
  services", and "Virtual communication codes", 2025).
- G2010: remote evaluation of recorded video or images submitted by an established patient,
  with follow-up within 24 business hours, not from a related E/M service in the previous 7
  days nor leading to an E/M service within the next 24 hours or soonest appointment (CY 2019
  PFS final rule; AAD, "CMS pays for communication technology-based services", 2019). A HCPCS
  code created by CMS: commercial payers decide for themselves whether to pay it.
- G2252: brief communication technology-based service (virtual check-in), 11-20 minutes of
  medical discussion, same conditions; a real-time audio or video conversation, never an
  e-mail, text or portal message (CY 2021 PFS final rule; IDSA, "New in 2019: Medicare payment
  for communication technology-based services"). G2012 (5-10 minutes) became CPT 98016 in 2025.

Summaries are our own words, not the CPT or HCPCS descriptors.
"""

from dataclasses import dataclass
from datetime import date

from billing.rules.records import (
    PayerKind,
    RuleDataError,
    _check,
    _check_code,
    _check_summary,
    check_minute_ranges,
)


@dataclass(frozen=True)
class MinuteRange:
    """A code reached by `min_minutes`..`max_minutes` (None: no ceiling)."""

    code: str
    min_minutes: int
    max_minutes: int | None
    summary: str

    def validate(self) -> None:
        _check_code(self.code)
        _check_summary(self.code, self.summary)
        ceiling = self.max_minutes if self.max_minutes is not None else self.min_minutes
        _check(0 < self.min_minutes <= ceiling, f"{self.code}: bad minute range")

    def holds(self, minutes: int) -> bool:
        return self.min_minutes <= minutes and (
            self.max_minutes is None or minutes <= self.max_minutes
        )


@dataclass(frozen=True)
class OnlineCodeSet:
    """Online digital E/M and communication technology-based codes from `effective_from`.

    `period_days`: the period whose cumulative minutes one online E/M counts, from the
    clinician's first review. `related_days_before`: a related E/M in these many days before
    the first review means the service is not reported. `hcpcs_payers`: payer kinds that pay
    the HCPCS G codes as data says; for the others the G code is not suggested. `consent_payers`:
    payer kinds that need the patient's documented consent to these services."""

    effective_from: date
    period_days: int
    related_days_before: int
    levels: tuple[MinuteRange, ...]  # fewest minutes first, ranges touching, top one open
    image_review: MinuteRange  # G2010: no minimum time; minutes 1.. as a formality
    check_in: MinuteRange  # G2252: real-time medical discussion only
    hcpcs_payers: tuple[PayerKind, ...]
    consent_payers: tuple[PayerKind, ...]
    source: str

    def validate(self) -> None:
        label = f"online codes from {self.effective_from}"
        _check(bool(self.source.strip()), f"{label}: cite a source")
        _check(self.period_days > 0, f"{label}: a period must last some days")
        _check(self.related_days_before >= 0, f"{label}: bad look-back")
        for code in (*self.levels, self.image_review, self.check_in):
            code.validate()
        check_minute_ranges(
            label,
            "online E/M",
            self.levels,
            other_codes=(self.image_review.code, self.check_in.code),
        )

    @property
    def shortest(self) -> MinuteRange:
        return self.levels[0]

    def level_for(self, minutes: int) -> MinuteRange | None:
        return next((level for level in self.levels if level.holds(minutes)), None)


ONLINE_5_TO_10 = MinuteRange(
    code="99421",
    min_minutes=5,
    max_minutes=10,
    summary="Online E/M for an established patient, 5-10 minutes over 7 days",
)
ONLINE_11_TO_20 = MinuteRange(
    code="99422",
    min_minutes=11,
    max_minutes=20,
    summary="Online E/M for an established patient, 11-20 minutes over 7 days",
)
ONLINE_21_UP = MinuteRange(
    code="99423",
    min_minutes=21,
    max_minutes=None,
    summary="Online E/M for an established patient, 21 minutes or more over 7 days",
)
IMAGE_REVIEW = MinuteRange(
    code="G2010",
    min_minutes=1,
    max_minutes=None,
    summary="Review of photos or video sent by an established patient, with follow-up",
)
CHECK_IN = MinuteRange(
    code="G2252",
    min_minutes=11,
    max_minutes=20,
    summary="Brief virtual check-in, 11-20 minutes of live medical discussion",
)

ONLINE_CODE_SETS: tuple[OnlineCodeSet, ...] = (
    OnlineCodeSet(
        effective_from=date(2021, 1, 1),
        period_days=7,
        related_days_before=7,
        levels=(ONLINE_5_TO_10, ONLINE_11_TO_20, ONLINE_21_UP),
        image_review=IMAGE_REVIEW,
        check_in=CHECK_IN,
        hcpcs_payers=(PayerKind.MEDICARE,),
        consent_payers=(PayerKind.MEDICARE,),
        source="CPT 2020 online digital E/M; CY 2019 and CY 2021 PFS final rules (G2010, G2252)",
    ),
    OnlineCodeSet(
        effective_from=date(2025, 1, 1),
        period_days=7,
        related_days_before=7,
        levels=(ONLINE_5_TO_10, ONLINE_11_TO_20, ONLINE_21_UP),
        image_review=IMAGE_REVIEW,
        check_in=CHECK_IN,
        hcpcs_payers=(PayerKind.MEDICARE,),
        consent_payers=(PayerKind.MEDICARE,),
        source="CPT 2025 (G2012 replaced by 98016; 99421-99423, G2010, G2252 unchanged)",
    ),
)


def validate_online_code_sets(sets: tuple[OnlineCodeSet, ...]) -> None:
    starts = [code_set.effective_from for code_set in sets]
    if not starts or starts != sorted(set(starts)):
        raise RuleDataError("online codes: versions must be listed oldest first, one per date")
    for code_set in sets:
        code_set.validate()
