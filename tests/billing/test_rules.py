"""The rule data walks clean, and the checks that guard it do catch contradictions."""

from dataclasses import replace
from datetime import date

import pytest

from billing import rules
from billing.rules import monitoring, payers, visits
from billing.rules.records import PayerKind, RuleDataError


def test_every_rule_set_validates():
    rules.validate_visit_code_sets(visits.VISIT_CODE_SETS)
    rules.validate_monitoring_rule_sets(monitoring.MONITORING_RULE_SETS)
    rules.validate_payer_profiles(payers.PAYER_PROFILES)
    for code_set in visits.VISIT_CODE_SETS:
        for family in code_set.families():
            assert [level.minutes for level in family.levels] == sorted(
                level.minutes for level in family.levels
            )


def test_every_rule_set_cites_a_source():
    for table in (visits.VISIT_CODE_SETS, monitoring.MONITORING_RULE_SETS, payers.PAYER_PROFILES):
        for version in table:
            assert version.source.strip()


def test_levels_out_of_order_are_refused():
    code_set = visits.VISIT_CODE_SETS[0]
    family = code_set.office_established
    swapped = replace(family, levels=(family.levels[1], family.levels[0], *family.levels[2:]))
    with pytest.raises(RuleDataError, match="one level per MDM level"):
        rules.validate_visit_code_sets([replace(code_set, office_established=swapped)])


def test_device_day_ranges_with_a_gap_are_refused():
    rule_set = monitoring.MONITORING_RULE_SETS[-1]
    short = replace(rule_set.device_supply[0], max_days=14)
    with pytest.raises(RuleDataError, match="must touch"):
        rules.validate_monitoring_rule_sets(
            [replace(rule_set, device_supply=(short, rule_set.device_supply[1]))]
        )


def test_two_versions_on_one_date_are_refused():
    with pytest.raises(RuleDataError, match="oldest first"):
        rules.validate_payer_profiles([payers.MEDICARE_2026, payers.MEDICARE_2026])


def test_a_bad_modifier_is_refused():
    with pytest.raises(RuleDataError, match="bad modifier"):
        rules.validate_payer_profiles([replace(payers.COMMERCIAL_2025, video_modifier="GTX")])


def test_a_state_on_a_non_medicaid_profile_is_refused():
    with pytest.raises(RuleDataError, match="only Medicaid"):
        rules.validate_payer_profiles([replace(payers.COMMERCIAL_2025, state="TX")])


def test_the_medicare_flexibility_date_is_data():
    profile = rules.payer_profile(PayerKind.MEDICARE, on=date(2027, 6, 1))
    assert profile.telehealth_flexibilities_until == date(2027, 12, 31)
    assert rules.payer_profile("medicare", on=date(2025, 6, 1)).telehealth_flexibilities_until == (
        date(2026, 1, 30)
    )


def test_medicaid_takes_a_state_profile_when_one_exists():
    texas = replace(payers.MEDICAID_2025, state="TX", video_modifier="GT", source="test state")
    table = (*payers.PAYER_PROFILES, texas)
    rules.validate_payer_profiles(table)
    on = date(2026, 3, 1)
    assert rules.payer_profile("medicaid", on=on, state="tx", profiles=table) == texas
    assert rules.payer_profile("medicaid", on=on, state="OK", profiles=table).state is None


def test_no_rules_before_the_first_version():
    with pytest.raises(rules.NoRulesError):
        rules.visit_codes_on(date(2024, 12, 31))
    with pytest.raises(rules.NoRulesError):
        rules.payer_profile("commercial", on=date(2024, 12, 31))


def test_an_unknown_profile_is_refused():
    with pytest.raises(rules.NoRulesError):
        rules.payer_profile("commercial", on=date(2026, 1, 1), variant="no-such-plan")


def test_minute_ranges_with_a_repeated_code_are_refused_in_every_rule_set():
    rule_set = monitoring.MONITORING_RULE_SETS[-1]
    twice = (rule_set.management[0], replace(rule_set.management[1], code="99470"))
    with pytest.raises(RuleDataError, match="repeated code"):
        rules.validate_monitoring_rule_sets([replace(rule_set, management=twice)])


def test_monitoring_management_needs_an_open_top_range():
    rule_set = monitoring.MONITORING_RULE_SETS[-1]
    closed = replace(rule_set.management[1], max_minutes=40)
    with pytest.raises(RuleDataError, match="top range is open"):
        rules.validate_monitoring_rule_sets(
            [replace(rule_set, management=(rule_set.management[0], closed))]
        )
