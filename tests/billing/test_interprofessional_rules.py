"""The interprofessional (e-consult) codes as dated rule data, and the time rule that picks
them, without a database: every band's edges, and data that contradicts itself."""

from dataclasses import replace
from datetime import date

import pytest

from billing.rules import NoRulesError, interprofessional_rules_on
from billing.rules.interprofessional import (
    INTERPROFESSIONAL_RULE_SETS,
    ConsultMinutes,
    TimeBand,
)
from billing.rules.records import RuleDataError

RULES = interprofessional_rules_on(date(2026, 6, 1))


def consult(specialist=0, discussion=None, *, verbal=True, answered=True, requester=0):
    return ConsultMinutes(
        specialist=specialist,
        specialist_discussion=specialist if discussion is None else discussion,
        verbal_report=verbal,
        answered=answered,
        requester=requester,
    )


@pytest.mark.parametrize(
    ("minutes", "code"),
    [(4, None), (5, "99446"), (10, "99446"), (11, "99447"), (20, "99447"), (21, "99448")]
    + [(30, "99448"), (31, "99449"), (240, "99449")],
)
def test_verbal_and_written_codes_follow_the_consultants_cumulative_minutes(minutes, code):
    band = RULES.consultant_code(consult(minutes))
    assert (band.code if band else None) == code


@pytest.mark.parametrize(
    ("minutes", "discussion", "verbal", "code"),
    [
        (10, 5, True, "99451"),  # half is not more than half: written only
        (10, 6, True, "99446"),
        (10, 10, False, "99451"),  # no verbal report
        (4, 0, False, None),  # written only needs 5 minutes too
        (60, 0, False, "99451"),  # one code, however long
    ],
)
def test_written_only_when_no_verbal_report_or_mostly_review(minutes, discussion, verbal, code):
    band = RULES.consultant_code(consult(minutes, discussion, verbal=verbal))
    assert (band.code if band else None) == code


@pytest.mark.parametrize(("minutes", "codes"), [(15, ()), (16, ("99452",)), (30, ("99452",))])
def test_the_requesting_clinicians_code_from_16_minutes(minutes, codes):
    assert RULES.codes(consult(0, requester=minutes)) == codes
    assert RULES.codes(consult(0, requester=minutes + 60)) == ("99452",)


def test_no_consultant_code_before_the_written_answer():
    assert RULES.codes(consult(25, answered=False, requester=20)) == ("99452",)


def test_rules_before_2019_do_not_exist():
    with pytest.raises(NoRulesError):
        interprofessional_rules_on(date(2018, 12, 31))


def test_the_limits_are_in_the_data():
    assert (RULES.consultant_once_per_days, RULES.requesting_once_per_days) == (7, 14)
    assert RULES.no_visit_within_days == 14 and RULES.discussion_share == 0.5


@pytest.mark.parametrize(
    "broken",
    [
        lambda r: replace(r, source=" "),
        lambda r: replace(
            r, verbal_and_written=r.verbal_and_written[:2] + r.verbal_and_written[3:]
        ),
        lambda r: replace(r, verbal_and_written=r.verbal_and_written[:3]),  # top range closed
        lambda r: replace(r, written_only=TimeBand("9945", 5, None, "x")),
        lambda r: replace(r, requesting=TimeBand("99452", 16, 10, "x")),
        lambda r: replace(r, discussion_share=1.0),
        lambda r: replace(r, consultant_once_per_days=0),
    ],
)
def test_contradictory_data_is_refused(broken):
    with pytest.raises(RuleDataError):
        broken(INTERPROFESSIONAL_RULE_SETS[0]).validate()


def test_a_consultant_code_repeated_as_the_requesters_is_refused():
    rules = INTERPROFESSIONAL_RULE_SETS[0]
    with pytest.raises(RuleDataError, match="repeated code"):
        replace(rules, requesting=replace(rules.requesting, code="99451")).validate()
