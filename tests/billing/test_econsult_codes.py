"""The e-consult codes on worked examples, from plain figures (no database)."""

from datetime import date, timedelta

from billing import consults
from billing.consults import ConsultFacts, Side
from billing.rules.interprofessional import ConsultMinutes
from billing.rules.payers import MEDICARE_2026

SENT = date(2026, 6, 1)
ANSWERED = date(2026, 6, 3)


def facts(
    *, specialist=12, discussion=0, verbal=False, requester=0, visits=(), billed=(), answered=True
):
    return ConsultFacts(
        sent_on=SENT,
        answered_on=ANSWERED if answered else None,
        minutes=ConsultMinutes(specialist, discussion, verbal, answered, requester),
        work_days=(ANSWERED,),
        specialist_visit_days=tuple(visits),
        billed_days=tuple(billed),
        payer=MEDICARE_2026,
    )


def codes(found: consults.ConsultAssessment) -> list[str]:
    return [line.code for line in found.suggestion.lines]


def test_the_specialists_code_follows_the_minutes_report_and_discussion():
    assert codes(consults.assess(facts(specialist=12), Side.SPECIALIST)) == ["99451"]
    examples = {5: "99446", 10: "99446", 11: "99447", 20: "99447", 21: "99448", 31: "99449"}
    for minutes, code in examples.items():
        found = consults.assess(
            facts(specialist=minutes, discussion=minutes, verbal=True), Side.SPECIALIST
        )
        assert codes(found) == [code], minutes
    half = consults.assess(facts(specialist=20, discussion=10, verbal=True), Side.SPECIALIST)
    assert codes(half) == ["99451"]  # exactly half is not more than half


def test_four_minutes_bill_nothing_with_the_reason():
    found = consults.assess(facts(specialist=4), Side.SPECIALIST)
    assert codes(found) == [] and "below the 5 minutes" in found.suggestion.not_billed[0].reason


def test_a_visit_with_the_specialist_inside_the_limits_and_just_outside():
    inside_before = SENT - timedelta(days=14)
    inside_after = ANSWERED + timedelta(days=14)
    for day in (inside_before, inside_after):
        found = consults.assess(facts(visits=[day]), Side.SPECIALIST)
        assert codes(found) == [] and found.suggestion.not_billed[0].code == "99451"
    for day in (inside_before - timedelta(days=1), inside_after + timedelta(days=1)):
        assert codes(consults.assess(facts(visits=[day]), Side.SPECIALIST)) == ["99451"]


def test_the_requesters_code_from_16_minutes_once_per_14_days():
    assert codes(consults.assess(facts(requester=15), Side.REQUESTER)) == []
    assert codes(consults.assess(facts(requester=16), Side.REQUESTER)) == ["99452"]
    recent = consults.assess(
        facts(requester=30, billed=[ANSWERED - timedelta(days=13)]), Side.REQUESTER
    )
    assert codes(recent) == [] and "once per 14 days" in recent.suggestion.not_billed[0].reason
    older = facts(requester=30, billed=[ANSWERED - timedelta(days=14)])
    assert codes(consults.assess(older, Side.REQUESTER)) == ["99452"]


def test_the_window_closes_14_days_after_the_answer():
    rules = consults.rules_for(SENT)
    assert consults.window_end(rules, ANSWERED) == ANSWERED + timedelta(days=14)
    assert consults.requester_reaches(16, SENT) and not consults.requester_reaches(15, SENT)
    assert not consults.requester_reaches(30, date(2018, 1, 1))  # no rules then


def test_no_code_before_the_answer():
    found = consults.assess(facts(answered=False), Side.SPECIALIST)
    assert codes(found) == [] and "Not answered" in found.suggestion.not_billed[0].reason
