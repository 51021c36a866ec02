"""Code suggestion for a visit, from documented facts only: pure functions, no database.

How the level is chosen. The clinician picks the basis:
- `Basis.TIME` (the default) levels the visit by total minutes on the date (recorded presence
  plus documented time), met or exceeded, and adds prolonged time beyond the top level;
- `Basis.MDM` levels it by the medical decision-making level the clinician recorded, and never
  adds prolonged time (prolonged time needs a level chosen by time).
An MDM level recorded while the basis is time is ignored, never mixed in; the two are not
compared to pick the higher one, because that choice belongs to the clinician.

How a telehealth line is coded comes from the payer profile (billing/rules/payers.py): place of
service for home or elsewhere, the video and audio-only modifiers, the telemedicine visit codes
where the payer adopted them, prolonged-time code and thresholds, and the last date of
Medicare's telehealth flexibilities. The rule tables and their sources are in billing/rules/.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from billing.rules import NoRulesError, visit_codes_on
from billing.rules.records import (
    Mdm,
    Modality,
    PatientStatus,
    PayerProfile,
    VisitCodeSet,
    VisitFamily,
    VisitLevel,
)
from billing.suggestions import NotBilled, SuggestedLine, Suggestion, minute_span

MDM_WORDS = {
    Mdm.STRAIGHTFORWARD: gettext_lazy("Straightforward"),
    Mdm.LOW: gettext_lazy("Low"),
    Mdm.MODERATE: gettext_lazy("Moderate"),
    Mdm.HIGH: gettext_lazy("High"),
}


class Basis(StrEnum):
    TIME = "time"
    MDM = "mdm"


class ClinicType(StrEnum):
    REGULAR = "regular"
    RHC_FQHC = "rhc_fqhc"


@dataclass(frozen=True)
class PatientLocation:
    """Where the patient said they were during a video or phone visit."""

    state: str  # two-letter USPS code
    at_home: bool

    def __post_init__(self) -> None:
        if len(self.state) != 2 or not self.state.isalpha() or not self.state.isupper():
            raise ValueError(f"{self.state!r} is not a two-letter state code.")


@dataclass(frozen=True)
class VisitFacts:
    date_of_service: date
    payer: PayerProfile
    modality: Modality
    location: PatientLocation | None  # required for video and audio-only visits
    visit_minutes: int  # from the visit's recorded presence
    patient_status: PatientStatus
    note_signed: bool
    documented_minutes: int = 0  # other time on the same date the clinician documented
    basis: Basis = Basis.TIME
    mdm: Mdm | None = None
    clinic: ClinicType = ClinicType.REGULAR
    behavioral_health: bool = False

    def __post_init__(self) -> None:
        if self.visit_minutes < 0 or self.documented_minutes < 0:
            raise ValueError("Minutes cannot be negative.")
        if self.payer.effective_from > self.date_of_service:
            raise ValueError("The payer profile is not yet in force on the date of service.")

    @property
    def minutes(self) -> int:
        """Total time on the date of service, which levels a visit chosen by time."""
        return self.visit_minutes + self.documented_minutes

    @property
    def minutes_in_words(self) -> str:
        if not self.documented_minutes:
            return ngettext("%(count)d minute", "%(count)d minutes", self.minutes) % {
                "count": self.minutes
            }
        return ngettext(
            "%(count)d minute (%(visit)d in the visit, %(documented)d more documented)",
            "%(count)d minutes (%(visit)d in the visit, %(documented)d more documented)",
            self.minutes,
        ) % {
            "count": self.minutes,
            "visit": self.visit_minutes,
            "documented": self.documented_minutes,
        }

    @property
    def is_telehealth(self) -> bool:
        return self.modality != Modality.IN_PERSON


def suggest(facts: VisitFacts) -> Suggestion:
    """The lines the documentation supports, what to review, and what cannot be billed."""
    try:
        code_set = visit_codes_on(facts.date_of_service)
    except NoRulesError as error:
        reason = _("No visit coding rules for dates before %(day)s.") % {"day": error.first}
        return Suggestion(not_billed=(NotBilled(None, reason),))
    review = review_reasons(facts)
    if facts.is_telehealth and facts.location is None:
        missing = _("The patient's location was not recorded; it decides the place of service.")
        return Suggestion(needs_review=review, not_billed=(NotBilled(None, missing),))
    family = visit_family(code_set, facts)
    chosen = visit_level(family, facts)
    if isinstance(chosen, NotBilled):
        return Suggestion(needs_review=review, not_billed=(chosen,))
    level, reason = chosen
    place = place_of_service(facts)
    modifiers = telehealth_modifiers(facts, family)
    lines = [SuggestedLine(level.code, modifiers, place, 1, reason)]
    extra = prolonged_line(family, level, facts, modifiers=modifiers, place=place)
    if extra is not None:
        lines.append(extra)
    refusal = telehealth_refusal(facts)
    if refusal is not None:
        return Suggestion(
            needs_review=review,
            not_billed=tuple(NotBilled(line.code, refusal) for line in lines),
        )
    return Suggestion(lines=tuple(lines), needs_review=review + originating_site_review(facts))


def visit_family(code_set: VisitCodeSet, facts: VisitFacts) -> VisitFamily:
    new = facts.patient_status == PatientStatus.NEW
    if facts.is_telehealth and facts.payer.telemedicine_codes:
        if facts.modality == Modality.VIDEO:
            family = code_set.video_new if new else code_set.video_established
        else:
            family = code_set.audio_new if new else code_set.audio_established
        if family is not None:
            return family
    return code_set.office_new if new else code_set.office_established


def visit_level(family: VisitFamily, facts: VisitFacts) -> tuple[VisitLevel, str] | NotBilled:
    if facts.basis == Basis.MDM:
        return level_by_mdm(family, facts.mdm)
    return level_by_time(family, facts)


def level_by_time(family: VisitFamily, facts: VisitFacts) -> tuple[VisitLevel, str] | NotBilled:
    reached = [level for level in family.levels if facts.minutes >= level.minutes]
    if not reached:
        reason = _(
            "%(minutes)s: below the %(shortest)d minutes of the shortest level (%(visit)s)."
        ) % {
            "minutes": facts.minutes_in_words,
            "shortest": family.shortest.minutes,
            "visit": _(family.name),
        }
        return NotBilled(None, reason)
    level = reached[-1]
    reason = _("%(minutes)s on the date: %(span)s (%(visit)s).") % {
        "minutes": facts.minutes_in_words,
        "span": minute_span(level.minutes, _next_minutes(family, level)),
        "visit": _(family.name),
    }
    return level, reason


def _next_minutes(family: VisitFamily, level: VisitLevel) -> int | None:
    index = family.levels.index(level)
    return family.levels[index + 1].minutes if level != family.top else None


def level_by_mdm(family: VisitFamily, mdm: Mdm | None) -> tuple[VisitLevel, str] | NotBilled:
    if mdm is None:
        return NotBilled(
            None, _("Levelling by decision making was chosen, but no level was recorded.")
        )
    level = next(level for level in family.levels if level.mdm == mdm)
    reason = _("%(level)s decision making, chosen by the clinician (%(visit)s).") % {
        "level": MDM_WORDS[mdm],
        "visit": _(family.name),
    }
    return level, reason


def prolonged_line(
    family: VisitFamily,
    level: VisitLevel,
    facts: VisitFacts,
    *,
    modifiers: tuple[str, ...],
    place: str,
) -> SuggestedLine | None:
    rule = facts.payer.prolonged
    first = rule.first_unit(family.status)
    if facts.basis != Basis.TIME or level != family.top or facts.minutes < first:
        return None
    units = 1 + (facts.minutes - first) // rule.unit_minutes
    reason = _(
        "%(minutes)s on the date: %(payer)s counts prolonged time from %(first)d minutes with "
        "%(code)s, one unit per full %(unit)d minutes."
    ) % {
        "minutes": facts.minutes_in_words,
        "payer": _(facts.payer.name),
        "first": first,
        "code": level.code,
        "unit": rule.unit_minutes,
    }
    return SuggestedLine(rule.code, modifiers, place, units, reason)


def place_of_service(facts: VisitFacts) -> str:
    if facts.location is None or not facts.is_telehealth:
        return facts.payer.pos_in_person
    return facts.payer.pos_home if facts.location.at_home else facts.payer.pos_elsewhere


def telehealth_modifiers(facts: VisitFacts, family: VisitFamily) -> tuple[str, ...]:
    """No modifier in person, nor on a telemedicine visit code (the code names the modality)."""
    if not facts.is_telehealth or family.telemedicine:
        return ()
    if facts.modality == Modality.AUDIO_ONLY:
        if facts.clinic == ClinicType.RHC_FQHC:
            return (facts.payer.audio_modifier_rhc_fqhc,)
        return (facts.payer.audio_modifier,)
    return (facts.payer.video_modifier,) if facts.payer.video_modifier else ()


def flexibilities_ended(facts: VisitFacts) -> date | None:
    """The payer's last day of telehealth flexibilities, when this visit falls after it."""
    until = facts.payer.telehealth_flexibilities_until
    if facts.is_telehealth and until is not None and facts.date_of_service > until:
        return until
    return None


def telehealth_refusal(facts: VisitFacts) -> str | None:
    """Why the payer will not pay this telehealth visit at all, if it will not."""
    until = flexibilities_ended(facts)
    if until is None or facts.behavioral_health:
        return None
    words = {"day": _day(until), "payer": _(facts.payer.name)}
    if facts.location is not None and facts.location.at_home:
        return (
            _(
                "After %(day)s, %(payer)s pays telehealth to a patient at home only for "
                "behavioral health."
            )
            % words
        )
    if facts.modality == Modality.AUDIO_ONLY:
        return _("After %(day)s, %(payer)s pays audio-only visits only for behavioral health.") % (
            words
        )
    return None


def originating_site_review(facts: VisitFacts) -> tuple[str, ...]:
    until = flexibilities_ended(facts)
    if until is None:
        return ()
    words = {"day": _day(until), "payer": _(facts.payer.name)}
    if facts.location is not None and facts.location.at_home:
        reason = _(
            "After %(day)s, %(payer)s again needs an in-person visit within six months before "
            "mental health care by telehealth: confirm there was one."
        )
    else:
        reason = _(
            "After %(day)s, %(payer)s pays telehealth only from an eligible originating site, "
            "such as a clinic in a rural area: confirm where the patient was."
        )
    return (reason % words,)


def review_reasons(facts: VisitFacts) -> tuple[str, ...]:
    reasons = []
    if not facts.note_signed:
        reasons.append(_("The note is not signed yet."))
    if facts.modality == Modality.AUDIO_ONLY:
        reasons.append(
            _(
                "Audio-only: the note should say why video was not used (the patient could not "
                "use it or did not agree to it)."
            )
        )
        if facts.payer.telemedicine_codes:
            reasons.append(
                _(
                    "Audio-only visit codes need more than 10 minutes of medical discussion: "
                    "confirm the note shows it."
                )
            )
        at_home = facts.location is not None and facts.location.at_home
        if facts.payer.audio_only_at_home_only and not at_home:
            reasons.append(
                _(
                    "%(payer)s pays audio-only visits when the patient is at home: confirm where "
                    "the patient was."
                )
                % {"payer": _(facts.payer.name)}
            )
    return tuple(reasons)


def _day(day: date) -> str:
    return date_format(day, "j F Y")
