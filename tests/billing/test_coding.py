"""Visit code suggestion on worked examples: time at each edge, MDM, telehealth by payer."""

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.coding import Basis, ClinicType, PatientLocation, VisitFacts, suggest
from billing.rules import payer_profile
from billing.rules.payers import MEDICAID_2025
from billing.rules.records import Mdm, Modality, PatientStatus

DAY = date(2026, 3, 10)
HOME = PatientLocation("TX", at_home=True)
ELSEWHERE = PatientLocation("TX", at_home=False)
NEW = PatientStatus.NEW
ESTABLISHED = PatientStatus.ESTABLISHED


def facts(
    *,
    payer: str = "medicare",
    variant: str | None = None,
    day: date = DAY,
    modality: Modality = Modality.IN_PERSON,
    location: PatientLocation | None = None,
    minutes: int = 32,
    status: PatientStatus = ESTABLISHED,
    **extra,
) -> VisitFacts:
    return VisitFacts(
        date_of_service=day,
        payer=payer_profile(payer, on=day, variant=variant),
        modality=modality,
        location=location,
        visit_minutes=minutes,
        patient_status=status,
        note_signed=extra.pop("note_signed", True),
        **extra,
    )


# --- Level by total time, in person ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payer", "status", "minutes", "codes"),
    [
        ("medicare", ESTABLISHED, 9, []),
        ("medicare", ESTABLISHED, 10, [("99212", 1)]),
        ("medicare", ESTABLISHED, 19, [("99212", 1)]),
        ("medicare", ESTABLISHED, 20, [("99213", 1)]),
        ("medicare", ESTABLISHED, 29, [("99213", 1)]),
        ("medicare", ESTABLISHED, 30, [("99214", 1)]),
        ("medicare", ESTABLISHED, 39, [("99214", 1)]),
        ("medicare", ESTABLISHED, 40, [("99215", 1)]),
        ("medicare", ESTABLISHED, 55, [("99215", 1)]),  # CPT's 99417 edge means nothing here
        ("medicare", ESTABLISHED, 68, [("99215", 1)]),
        ("medicare", ESTABLISHED, 69, [("99215", 1), ("G2212", 1)]),
        ("medicare", ESTABLISHED, 83, [("99215", 1), ("G2212", 1)]),
        ("medicare", ESTABLISHED, 84, [("99215", 1), ("G2212", 2)]),
        ("commercial", ESTABLISHED, 54, [("99215", 1)]),
        ("commercial", ESTABLISHED, 55, [("99215", 1), ("99417", 1)]),
        ("commercial", ESTABLISHED, 69, [("99215", 1), ("99417", 1)]),
        ("commercial", ESTABLISHED, 70, [("99215", 1), ("99417", 2)]),
        ("medicare", NEW, 14, []),
        ("medicare", NEW, 15, [("99202", 1)]),
        ("medicare", NEW, 29, [("99202", 1)]),
        ("medicare", NEW, 30, [("99203", 1)]),
        ("medicare", NEW, 44, [("99203", 1)]),
        ("medicare", NEW, 45, [("99204", 1)]),
        ("medicare", NEW, 59, [("99204", 1)]),
        ("medicare", NEW, 60, [("99205", 1)]),
        ("medicare", NEW, 88, [("99205", 1)]),
        ("medicare", NEW, 89, [("99205", 1), ("G2212", 1)]),
        ("medicare", NEW, 104, [("99205", 1), ("G2212", 2)]),
        ("commercial", NEW, 74, [("99205", 1)]),
        ("commercial", NEW, 75, [("99205", 1), ("99417", 1)]),
        ("medicaid", NEW, 75, [("99205", 1), ("99417", 1)]),
    ],
)
def test_level_by_time_at_each_edge(payer, status, minutes, codes):
    suggestion = suggest(facts(payer=payer, status=status, minutes=minutes))
    assert suggestion.codes == codes
    assert all(line.place_of_service == "11" and line.modifiers == () for line in suggestion.lines)


def test_the_reason_names_the_minutes_and_the_range():
    line = suggest(facts(minutes=32)).lines[0]
    assert line.reason == (
        "32 minutes on the date: 30-39 minutes (established-patient office visit)."
    )


def test_documented_time_adds_to_the_visit_and_the_reason_shows_both():
    line = suggest(facts(minutes=25, documented_minutes=7)).lines[0]
    assert line.code == "99214"
    assert line.reason == (
        "32 minutes (25 in the visit, 7 more documented) on the date: 30-39 minutes "
        "(established-patient office visit)."
    )


def test_negative_minutes_are_refused():
    with pytest.raises(ValueError, match="negative"):
        facts(documented_minutes=-1)


def test_a_payer_profile_from_a_later_year_is_refused():
    with pytest.raises(ValueError, match="not yet in force"):
        replace(facts(), date_of_service=date(2025, 6, 1))


def test_below_the_shortest_visit_says_why_nothing_is_billed():
    suggestion = suggest(facts(minutes=9))
    assert suggestion.lines == ()
    assert suggestion.not_billed[0].reason == (
        "9 minutes: below the 10 minutes of the shortest level (established-patient office visit)."
    )


def test_prolonged_reason_says_where_counting_starts():
    line = suggest(facts(minutes=70)).lines[1]
    assert line.code == "G2212" and "from 69 minutes" in line.reason


# --- Level by decision making ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "mdm", "code"),
    [
        (NEW, Mdm.STRAIGHTFORWARD, "99202"),
        (NEW, Mdm.HIGH, "99205"),
        (ESTABLISHED, Mdm.LOW, "99213"),
        (ESTABLISHED, Mdm.MODERATE, "99214"),
    ],
)
def test_level_by_decision_making_when_the_clinician_chose_it(status, mdm, code):
    suggestion = suggest(facts(status=status, minutes=5, basis=Basis.MDM, mdm=mdm))
    assert suggestion.codes == [(code, 1)]
    assert "chosen by the clinician" in suggestion.lines[0].reason


def test_decision_making_never_adds_prolonged_time():
    suggestion = suggest(facts(minutes=120, basis=Basis.MDM, mdm=Mdm.HIGH))
    assert suggestion.codes == [("99215", 1)]


def test_an_mdm_level_is_ignored_when_the_basis_is_time():
    assert suggest(facts(minutes=12, mdm=Mdm.HIGH)).codes == [("99212", 1)]


def test_mdm_basis_without_a_level_bills_nothing():
    suggestion = suggest(facts(basis=Basis.MDM))
    assert suggestion.lines == () and "no level was recorded" in suggestion.not_billed[0].reason


# --- Review ----------------------------------------------------------------------------------


def test_an_unsigned_note_needs_review_but_keeps_its_lines():
    suggestion = suggest(facts(note_signed=False))
    assert suggestion.codes == [("99214", 1)]
    assert "The note is not signed yet." in suggestion.needs_review


def test_a_signed_in_person_visit_needs_no_review():
    assert suggest(facts()).needs_review == ()


# --- Telehealth by payer profile -------------------------------------------------------------


VIDEO, AUDIO = Modality.VIDEO, Modality.AUDIO_ONLY
REGULAR, CLINIC = ClinicType.REGULAR, ClinicType.RHC_FQHC
TELEMEDICINE = "commercial-telemedicine-codes"


@pytest.mark.parametrize(
    ("payer", "variant", "modality", "location", "clinic", "code", "modifiers", "pos"),
    [
        ("medicare", None, VIDEO, HOME, REGULAR, "99214", (), "10"),
        ("medicare", None, VIDEO, ELSEWHERE, REGULAR, "99214", (), "02"),
        ("medicare", None, AUDIO, HOME, REGULAR, "99214", ("93",), "10"),
        ("medicare", None, AUDIO, HOME, CLINIC, "99214", ("FQ",), "10"),
        ("commercial", None, VIDEO, HOME, REGULAR, "99214", ("95",), "10"),
        ("commercial", None, VIDEO, ELSEWHERE, REGULAR, "99214", ("95",), "02"),
        ("commercial", None, AUDIO, HOME, REGULAR, "99214", ("93",), "10"),
        ("medicaid", None, VIDEO, HOME, REGULAR, "99214", ("95",), "10"),
        ("medicaid", None, AUDIO, ELSEWHERE, CLINIC, "99214", ("FQ",), "02"),
        ("commercial", TELEMEDICINE, VIDEO, HOME, REGULAR, "98006", (), "10"),
        ("commercial", TELEMEDICINE, AUDIO, ELSEWHERE, REGULAR, "98014", (), "02"),
    ],
)
def test_telehealth_coding_follows_the_payer(
    payer, variant, modality, location, clinic, code, modifiers, pos
):
    suggestion = suggest(
        facts(payer=payer, variant=variant, modality=modality, location=location, clinic=clinic)
    )
    (line,) = suggestion.lines
    assert (line.code, line.modifiers, line.place_of_service) == (code, modifiers, pos)


def test_telemedicine_codes_for_a_new_patient_with_prolonged_time():
    suggestion = suggest(
        facts(
            payer="commercial",
            variant="commercial-telemedicine-codes",
            modality=Modality.VIDEO,
            location=HOME,
            status=NEW,
            minutes=75,
        )
    )
    assert suggestion.codes == [("98003", 1), ("99417", 1)]


def test_medicare_never_suggests_the_telemedicine_codes():
    for modality in (Modality.VIDEO, Modality.AUDIO_ONLY):
        code = suggest(facts(modality=modality, location=HOME)).lines[0].code
        assert not code.startswith("98")


def test_a_state_medicaid_profile_overrides_the_default():
    state_profile = replace(MEDICAID_2025, state="TX", video_modifier="GT", pos_home="02")
    visit = replace(
        facts(payer="medicaid", modality=Modality.VIDEO, location=HOME), payer=state_profile
    )
    (line,) = suggest(visit).lines
    assert (line.modifiers, line.place_of_service) == (("GT",), "02")


def test_audio_only_asks_to_confirm_why_video_was_not_used():
    review = suggest(facts(modality=Modality.AUDIO_ONLY, location=HOME)).needs_review
    assert any("why video was not used" in reason for reason in review)


def test_medicare_audio_only_away_from_home_needs_review():
    review = suggest(facts(modality=Modality.AUDIO_ONLY, location=ELSEWHERE)).needs_review
    assert any("when the patient is at home" in reason for reason in review)


def test_audio_only_telemedicine_codes_ask_for_ten_minutes_of_discussion():
    visit = facts(
        payer="commercial",
        variant="commercial-telemedicine-codes",
        modality=Modality.AUDIO_ONLY,
        location=HOME,
    )
    assert any("more than 10 minutes" in reason for reason in suggest(visit).needs_review)


def test_a_location_needs_a_two_letter_state():
    with pytest.raises(ValueError, match="two-letter state"):
        PatientLocation("Texas", at_home=True)


def test_telehealth_without_a_recorded_location_bills_nothing():
    suggestion = suggest(facts(modality=Modality.VIDEO))
    assert suggestion.lines == () and "location was not recorded" in suggestion.not_billed[0].reason


# --- After Medicare's flexibilities end (31 December 2027) -----------------------------------

LAST_DAY = date(2027, 12, 31)
AFTER = date(2028, 1, 3)


def test_home_video_is_billed_on_the_last_day_of_the_flexibilities():
    suggestion = suggest(facts(day=LAST_DAY, modality=Modality.VIDEO, location=HOME))
    assert suggestion.codes == [("99214", 1)] and suggestion.not_billed == ()


def test_home_video_after_the_flexibilities_is_not_billed_with_the_reason():
    suggestion = suggest(facts(day=AFTER, modality=Modality.VIDEO, location=HOME, minutes=70))
    assert suggestion.lines == ()
    assert [item.code for item in suggestion.not_billed] == ["99215", "G2212"]
    assert suggestion.not_billed[0].reason == (
        "After 31 December 2027, Medicare pays telehealth to a patient at home only for "
        "behavioral health."
    )


def test_behavioral_health_at_home_stays_billable_after_the_flexibilities():
    suggestion = suggest(
        facts(day=AFTER, modality=Modality.VIDEO, location=HOME, behavioral_health=True)
    )
    assert suggestion.codes == [("99214", 1)]
    assert any("in-person visit within six months" in reason for reason in suggestion.needs_review)


def test_video_away_from_home_after_the_flexibilities_asks_for_the_originating_site():
    suggestion = suggest(facts(day=AFTER, modality=Modality.VIDEO, location=ELSEWHERE))
    assert suggestion.codes == [("99214", 1)]
    assert any("eligible originating site" in reason for reason in suggestion.needs_review)


def test_audio_only_after_the_flexibilities_is_not_billed():
    suggestion = suggest(facts(day=AFTER, modality=Modality.AUDIO_ONLY, location=ELSEWHERE))
    assert suggestion.lines == () and "audio-only" in suggestion.not_billed[0].reason


def test_commercial_home_video_is_unaffected_by_medicare_dates():
    suggestion = suggest(
        facts(payer="commercial", day=AFTER, modality=Modality.VIDEO, location=HOME)
    )
    assert suggestion.codes == [("99214", 1)]


def test_in_person_after_the_flexibilities_is_unaffected():
    assert suggest(facts(day=AFTER)).codes == [("99214", 1)]


def test_a_date_before_the_rules_bills_nothing():
    early_payer = replace(payer_profile("commercial", on=DAY), effective_from=date(2024, 1, 1))
    visit = replace(facts(), payer=early_payer, date_of_service=date(2024, 6, 1))
    suggestion = suggest(visit)
    assert suggestion.lines == () and "before 2025-01-01" in suggestion.not_billed[0].reason


# --- Properties ------------------------------------------------------------------------------

PAYERS = st.sampled_from(["medicare", "commercial", "medicaid"])
STATUSES = st.sampled_from(list(PatientStatus))


def _level_and_extra(visit: VisitFacts) -> tuple[int, int]:
    suggestion = suggest(visit)
    if not suggestion.lines:
        return (-1, 0)
    level = int(suggestion.lines[0].code[-1])
    extra = sum(line.units for line in suggestion.lines[1:])
    return (level, extra)


@given(payer=PAYERS, status=STATUSES, a=st.integers(0, 200), b=st.integers(0, 200))
def test_more_minutes_never_lower_the_level(payer, status, a, b):
    low, high = sorted((a, b))
    assert _level_and_extra(facts(payer=payer, status=status, minutes=low)) <= _level_and_extra(
        facts(payer=payer, status=status, minutes=high)
    )


@given(payer=PAYERS, status=STATUSES, minutes=st.integers(0, 300))
def test_every_line_has_a_reason_and_at_most_four_modifiers(payer, status, minutes):
    suggestion = suggest(
        facts(
            payer=payer, status=status, minutes=minutes, modality=Modality.AUDIO_ONLY, location=HOME
        )
    )
    assert bool(suggestion.lines) != bool(suggestion.not_billed)
    for line in suggestion.lines:
        assert line.reason and len(line.modifiers) <= 4 and line.units >= 1
