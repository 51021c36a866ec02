"""Online visit codes from plain figures: the worked examples of 99421-99423 and G2010, and
the rule data checked at import."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from billing import online
from billing.rules import NoRulesError, online_codes_on, payer_profile
from billing.rules.online import ONLINE_CODE_SETS, MinuteRange, validate_online_code_sets
from billing.rules.records import PatientStatus, PayerKind, RuleDataError

FIRST = date(2026, 3, 2)
MEDICARE = payer_profile(PayerKind.MEDICARE, on=FIRST)
COMMERCIAL = payer_profile(PayerKind.COMMERCIAL, on=FIRST)


def facts(minutes_by_day=((FIRST, 0),), **overrides) -> online.OnlineFacts:
    values = {
        "first_review": FIRST,
        "entries": tuple((day, m) for day, m in minutes_by_day if m),
        "payer": MEDICARE,
        "patient_status": PatientStatus.ESTABLISHED,
    }
    return online.OnlineFacts(**{**values, **overrides})


def codes(assessment: online.OnlineAssessment) -> list[str]:
    return [line.code for line in assessment.suggestion.lines]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [(4, []), (5, ["99421"]), (10, ["99421"]), (11, ["99422"]), (20, ["99422"]), (21, ["99423"])],
)
def test_cumulative_minutes_pick_the_code(minutes, expected):
    split = ((FIRST, minutes // 2), (FIRST + timedelta(days=3), minutes - minutes // 2))
    assessment = online.assess(facts(split))
    assert assessment.minutes == minutes
    assert codes(assessment) == expected
    if not expected:
        assert "below the 5 minutes of 99421" in assessment.suggestion.not_billed[0].reason


def test_the_line_is_not_telehealth_no_modifier_and_the_office_place_of_service():
    line = online.assess(facts(((FIRST, 12),), payer=COMMERCIAL)).suggestion.lines[0]
    assert (line.code, line.modifiers, line.place_of_service) == ("99422", (), "11")


def test_only_minutes_inside_the_seven_days_count():
    entries = (
        (FIRST - timedelta(days=1), 30),  # before the first review
        (FIRST, 6),
        (FIRST + timedelta(days=6), 4),  # the last day of the period
        (FIRST + timedelta(days=7), 30),  # the day after
    )
    assessment = online.assess(facts(entries))
    assert assessment.period == (FIRST, FIRST + timedelta(days=6))
    assert (assessment.minutes, assessment.recorded) == (10, 70)
    assert codes(assessment) == ["99421"]
    assert "60 minutes recorded outside the period" in assessment.suggestion.lines[0].reason
    assert assessment.date_of_service == FIRST + timedelta(days=6)


def test_escalation_to_a_live_visit_is_not_billed_separately():
    assessment = online.assess(facts(((FIRST, 25),), escalated=True))
    assert codes(assessment) == []
    refused = assessment.suggestion.not_billed[0]
    assert refused.code == "99423"
    assert "count toward that visit" in refused.reason


def test_a_live_visit_within_the_seven_days_takes_the_minutes():
    within = online.assess(facts(((FIRST, 15),), visits_within=(FIRST + timedelta(days=5),)))
    assert codes(within) == []
    assert within.suggestion.not_billed[0].code == "99422"
    after = online.assess(facts(((FIRST, 15),), visits_within=(FIRST + timedelta(days=7),)))
    assert codes(after) == ["99422"]


def test_a_live_visit_in_the_seven_days_before_leaves_the_line_to_a_person():
    before = online.assess(facts(((FIRST, 15),), visits_before=(FIRST - timedelta(days=7),)))
    assert codes(before) == []
    assert "add the line by hand" in before.suggestion.not_billed[0].reason
    longer = online.assess(facts(((FIRST, 15),), visits_before=(FIRST - timedelta(days=8),)))
    assert codes(longer) == ["99422"]


def test_a_new_patient_is_not_billed():
    assessment = online.assess(facts(((FIRST, 25),), patient_status=PatientStatus.NEW))
    assert codes(assessment) == []
    assert "established patients" in assessment.suggestion.not_billed[0].reason


def test_photos_reviewed_in_a_short_case_are_g2010_for_medicare():
    assessment = online.assess(facts(((FIRST, 3),), photos=2))
    assert codes(assessment) == ["G2010"]
    assert any("24 business hours" in note for note in assessment.suggestion.needs_review)
    assert any("consent" in note for note in assessment.suggestion.needs_review)


def test_photos_in_a_case_long_enough_for_online_em_are_part_of_it():
    assert codes(online.assess(facts(((FIRST, 8),), photos=2))) == ["99421"]


def test_a_commercial_payer_gets_no_g2010_suggested_and_no_consent_note():
    assessment = online.assess(facts(((FIRST, 3),), photos=1, payer=COMMERCIAL))
    assert codes(assessment) == []
    assert assessment.suggestion.not_billed[0].code == "G2010"
    online_em = online.assess(facts(((FIRST, 12),), payer=COMMERCIAL))
    assert codes(online_em) == ["99422"]
    assert online_em.suggestion.needs_review == ()


def test_a_new_patients_photos_are_not_g2010_either():
    assessment = online.assess(facts(((FIRST, 3),), photos=1, patient_status=PatientStatus.NEW))
    assert codes(assessment) == []
    assert assessment.suggestion.not_billed[0].code == "G2010"


def test_a_case_nobody_reviewed_has_no_period():
    assessment = online.assess(facts((), first_review=None))
    assert assessment.period is None and codes(assessment) == []


def test_no_rules_before_the_first_rule_set():
    with pytest.raises(NoRulesError):
        online_codes_on(date(2020, 12, 31))
    assessment = online.assess(facts(((date(2020, 6, 1), 12),), first_review=date(2020, 6, 1)))
    assert codes(assessment) == [] and "No online visit coding rules" in (
        assessment.suggestion.not_billed[0].reason
    )


def test_g2252_is_data_for_a_live_check_in_of_11_to_20_minutes():
    check_in = online_codes_on(FIRST).check_in
    assert check_in.code == "G2252"
    assert [check_in.holds(m) for m in (10, 11, 20, 21)] == [False, True, True, False]


def test_rule_data_that_contradicts_itself_is_refused():
    current = ONLINE_CODE_SETS[-1]
    gap = replace(current.levels[1], min_minutes=12)
    with pytest.raises(RuleDataError, match="must touch"):
        validate_online_code_sets((replace(current, levels=(current.levels[0], gap)),))
    with pytest.raises(RuleDataError, match="top range is open"):
        validate_online_code_sets((replace(current, levels=current.levels[:2]),))
    with pytest.raises(RuleDataError, match="oldest first"):
        validate_online_code_sets(tuple(reversed(ONLINE_CODE_SETS)))
    with pytest.raises(RuleDataError):
        MinuteRange("99421", 5, 10, "").validate()
