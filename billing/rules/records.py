"""The shapes of our billing rule data: frozen dataclasses checked when the data is imported.

Descriptions are our own short plain-language summaries, never the CPT descriptor text.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol


class RuleDataError(ValueError):
    """A rule table contradicts itself; raised at import so bad data never reaches a claim."""


class Modality(StrEnum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"
    IN_PERSON = "in_person"


class PatientStatus(StrEnum):
    NEW = "new"
    ESTABLISHED = "established"


class Mdm(StrEnum):
    """Medical decision-making level, lowest first."""

    STRAIGHTFORWARD = "straightforward"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


MDM_ORDER: tuple[Mdm, ...] = tuple(Mdm)


class PayerKind(StrEnum):
    MEDICARE = "medicare"
    MEDICAID = "medicaid"
    COMMERCIAL = "commercial"


CODE = re.compile(r"^[0-9A-Z]\d{3}[0-9A-Z]$")
MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
PLACE_OF_SERVICE = re.compile(r"^\d{2}$")
SUMMARY_MAX = 90


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuleDataError(message)


def _check_summary(code: str, summary: str) -> None:
    _check(bool(summary.strip()), f"{code}: a plain-language summary is required")
    _check(len(summary) <= SUMMARY_MAX, f"{code}: keep the summary short (ours, not a descriptor)")


def _check_code(code: str) -> None:
    _check(bool(CODE.match(code)), f"{code!r} is not a five-character CPT/HCPCS code")


class MinuteBand(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def min_minutes(self) -> int: ...
    @property
    def max_minutes(self) -> int | None: ...


def check_minute_ranges(
    label: str, what: str, ranges: Sequence[MinuteBand], *, other_codes: Sequence[str] = ()
) -> None:
    """Codes reached by cumulative minutes, fewest first: there is at least one, each range
    begins the minute after the one before ends, the top one has no ceiling, and no code
    appears twice (among these and `other_codes`, the rule set's other codes)."""
    _check(bool(ranges), f"{label}: codes missing")
    for shorter, longer in zip(ranges, ranges[1:], strict=False):
        _check(
            shorter.max_minutes is not None and shorter.max_minutes + 1 == longer.min_minutes,
            f"{label}: {what} minute ranges must touch",
        )
    _check(ranges[-1].max_minutes is None, f"{label}: the top range is open ({what})")
    codes = [band.code for band in ranges] + list(other_codes)
    _check(len(codes) == len(set(codes)), f"{label}: repeated code")


@dataclass(frozen=True)
class VisitLevel:
    """One visit code: reached by total minutes on the date (met or exceeded) or by its MDM."""

    code: str
    mdm: Mdm
    minutes: int
    summary: str

    def validate(self) -> None:
        _check_code(self.code)
        _check(self.minutes > 0, f"{self.code}: minutes must be positive")
        _check_summary(self.code, self.summary)


@dataclass(frozen=True)
class VisitFamily:
    """Four levels of one kind of visit for one patient status, lowest first."""

    name: str  # plain words for reasons, marked for translation: "established-patient office visit"
    status: PatientStatus
    levels: tuple[VisitLevel, ...]
    telemedicine: bool = False  # the code itself says video or audio-only: no modifier

    def validate(self) -> None:
        for level in self.levels:
            level.validate()
        _check(
            tuple(level.mdm for level in self.levels) == MDM_ORDER,
            f"{self.name}: one level per MDM level, lowest first",
        )
        minutes = [level.minutes for level in self.levels]
        _check(minutes == sorted(set(minutes)), f"{self.name}: minutes must rise level by level")

    @property
    def shortest(self) -> VisitLevel:
        return self.levels[0]

    @property
    def top(self) -> VisitLevel:
        return self.levels[-1]


@dataclass(frozen=True)
class VisitCodeSet:
    """Office/outpatient visit codes, and the telemedicine visit codes where the year has them."""

    effective_from: date
    office_new: VisitFamily
    office_established: VisitFamily
    video_new: VisitFamily | None
    video_established: VisitFamily | None
    audio_new: VisitFamily | None
    audio_established: VisitFamily | None
    source: str

    def families(self) -> tuple[VisitFamily, ...]:
        candidates = (
            self.office_new,
            self.office_established,
            self.video_new,
            self.video_established,
            self.audio_new,
            self.audio_established,
        )
        return tuple(family for family in candidates if family is not None)

    def validate(self) -> None:
        _check(bool(self.source.strip()), f"visit codes from {self.effective_from}: cite a source")
        codes: list[str] = []
        for family in self.families():
            family.validate()
            codes += [level.code for level in family.levels]
        _check(len(codes) == len(set(codes)), f"visit codes from {self.effective_from}: repeated")
        pairs = ((self.video_new, self.video_established), (self.audio_new, self.audio_established))
        for new, established in pairs:
            _check(
                (new is None) == (established is None),
                f"visit codes from {self.effective_from}: telemedicine families come in pairs",
            )
        for candidate, status, telemedicine in (
            (self.office_new, PatientStatus.NEW, False),
            (self.office_established, PatientStatus.ESTABLISHED, False),
            (self.video_new, PatientStatus.NEW, True),
            (self.video_established, PatientStatus.ESTABLISHED, True),
            (self.audio_new, PatientStatus.NEW, True),
            (self.audio_established, PatientStatus.ESTABLISHED, True),
        ):
            if candidate is not None:
                _check(candidate.status == status, f"{candidate.name}: wrong patient status")
                _check(candidate.telemedicine == telemedicine, f"{candidate.name}: wrong kind")


@dataclass(frozen=True)
class ProlongedRule:
    """Add-on time beyond the top visit level: the first unit at `first_unit_*` total minutes on
    the date, one more unit per further full `unit_minutes`. Only when the level was chosen by
    time."""

    code: str
    first_unit_new: int
    first_unit_established: int
    unit_minutes: int
    summary: str

    def validate(self) -> None:
        _check_code(self.code)
        _check_summary(self.code, self.summary)
        _check(self.unit_minutes > 0, f"{self.code}: a unit must last some minutes")

    def first_unit(self, status: PatientStatus) -> int:
        return self.first_unit_new if status == PatientStatus.NEW else self.first_unit_established


@dataclass(frozen=True)
class PayerProfile:
    """How one payer wants a visit coded, from `effective_from` until the next version.

    `telehealth_flexibilities_until`: last date of service on which the payer pays telehealth
    with the patient at home for any service (Medicare's statutory extension). After it, only
    behavioral health may be furnished to a patient at home. None: no such limit in the profile.
    """

    key: str
    kind: PayerKind
    name: str
    effective_from: date
    pos_in_person: str
    pos_home: str
    pos_elsewhere: str
    video_modifier: str | None
    audio_modifier: str
    audio_modifier_rhc_fqhc: str
    telemedicine_codes: bool
    prolonged: ProlongedRule
    telehealth_flexibilities_until: date | None
    audio_only_at_home_only: bool
    source: str
    state: str | None = None

    def validate(self) -> None:
        label = f"payer profile {self.key} from {self.effective_from}"
        _check(bool(self.source.strip()), f"{label}: cite a source")
        for pos in (self.pos_in_person, self.pos_home, self.pos_elsewhere):
            _check(bool(PLACE_OF_SERVICE.match(pos)), f"{label}: bad place of service {pos!r}")
        modifiers = [self.audio_modifier, self.audio_modifier_rhc_fqhc]
        if self.video_modifier is not None:
            modifiers.append(self.video_modifier)
        for modifier in modifiers:
            _check(bool(MODIFIER.match(modifier)), f"{label}: bad modifier {modifier!r}")
        _check(
            self.state is None or (self.kind == PayerKind.MEDICAID and len(self.state) == 2),
            f"{label}: only Medicaid profiles are per state (two-letter code)",
        )
        self.prolonged.validate()


@dataclass(frozen=True)
class DeviceSupplyCode:
    """Device supply for a 30-day period with readings on `min_days`..`max_days` days."""

    code: str
    min_days: int
    max_days: int
    summary: str

    def validate(self) -> None:
        _check_code(self.code)
        _check_summary(self.code, self.summary)
        _check(1 <= self.min_days <= self.max_days, f"{self.code}: bad day range")


@dataclass(frozen=True)
class ManagementCode:
    """Treatment management time in a calendar month: `min_minutes`..`max_minutes` (None: no
    ceiling), with at least one interactive contact."""

    code: str
    min_minutes: int
    max_minutes: int | None
    summary: str

    def validate(self) -> None:
        _check_code(self.code)
        _check_summary(self.code, self.summary)
        ceiling = self.max_minutes if self.max_minutes is not None else self.min_minutes
        _check(0 < self.min_minutes <= ceiling, f"{self.code}: bad minute range")


@dataclass(frozen=True)
class MonitoringRuleSet:
    """Remote physiologic monitoring codes in force from `effective_from`."""

    effective_from: date
    period_days: int
    setup_code: str
    setup_min_days: int
    setup_summary: str
    device_supply: tuple[DeviceSupplyCode, ...]  # fewest days first, ranges touching
    management: tuple[ManagementCode, ...]  # fewest minutes first, ranges touching
    further_code: str
    further_minutes: int  # one unit per further full block beyond the first 20 minutes
    further_summary: str
    source: str

    def validate(self) -> None:
        label = f"monitoring rules from {self.effective_from}"
        _check(bool(self.source.strip()), f"{label}: cite a source")
        _check(self.period_days > 0, f"{label}: a period must last some days")
        for code in (self.setup_code, self.further_code):
            _check_code(code)
        _check_summary(self.setup_code, self.setup_summary)
        _check_summary(self.further_code, self.further_summary)
        _check(bool(self.device_supply) and bool(self.management), f"{label}: codes missing")
        for supply in self.device_supply:
            supply.validate()
        for lower, upper in zip(self.device_supply, self.device_supply[1:], strict=False):
            _check(lower.max_days + 1 == upper.min_days, f"{label}: device day ranges must touch")
        _check(
            self.device_supply[-1].max_days == self.period_days,
            f"{label}: the longest device range must end with the period",
        )
        _check(1 <= self.setup_min_days <= self.period_days, f"{label}: bad setup day minimum")
        for management in self.management:
            management.validate()
        check_minute_ranges(label, "management", self.management)
        _check(self.further_minutes > 0, f"{label}: further time needs a block length")

    @property
    def full_management(self) -> ManagementCode:
        return self.management[-1]

    @property
    def full_supply(self) -> DeviceSupplyCode:
        return self.device_supply[-1]
