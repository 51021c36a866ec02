"""Billing rules as typed, dated data, and the lookups that pick the version in force.

Every table is validated when this package is imported, so a contradiction in the data fails
at start-up and in the tests rather than on a claim. Rule sets are open-ended: one applies from
its `effective_from` until the next one starts; dated limits inside a rule set (such as
Medicare's telehealth flexibilities) are fields of the data, not dates in the code.
"""

from collections.abc import Sequence
from datetime import date
from typing import Protocol, TypeVar

from billing.rules.interprofessional import (
    INTERPROFESSIONAL_RULE_SETS,
    InterprofessionalRuleSet,
)
from billing.rules.monitoring import MONITORING_RULE_SETS
from billing.rules.online import ONLINE_CODE_SETS, OnlineCodeSet, validate_online_code_sets
from billing.rules.payers import PAYER_PROFILES
from billing.rules.records import (
    MonitoringRuleSet,
    PayerKind,
    PayerProfile,
    RuleDataError,
    VisitCodeSet,
)
from billing.rules.visits import VISIT_CODE_SETS


class NoRulesError(LookupError):
    """No rule set covers the date asked about; `first` is the earliest date that has one."""

    def __init__(self, message: str, *, first: date | None = None) -> None:
        super().__init__(message)
        self.first = first


class _Dated(Protocol):
    @property
    def effective_from(self) -> date: ...


Dated = TypeVar("Dated", bound=_Dated)


def in_force(versions: Sequence[Dated], *, on: date, what: str) -> Dated:
    """The latest version starting on or before `on`; `versions` are oldest first."""
    current = [version for version in versions if version.effective_from <= on]
    if not current:
        first = versions[0].effective_from
        raise NoRulesError(f"No {what} for dates before {first}.", first=first)
    return current[-1]


def visit_codes_on(day: date) -> VisitCodeSet:
    return in_force(VISIT_CODE_SETS, on=day, what="visit codes")


def monitoring_rules_on(day: date) -> MonitoringRuleSet:
    return in_force(MONITORING_RULE_SETS, on=day, what="monitoring rules")


def payer_profile(
    kind: PayerKind | str,
    *,
    on: date,
    state: str | None = None,
    variant: str | None = None,
    profiles: Sequence[PayerProfile] = PAYER_PROFILES,
) -> PayerProfile:
    """The profile in force on a date. Medicaid takes the state's own profile when there is one,
    else the default; `variant` picks a named profile of the same payer kind (for example a
    commercial payer that adopted the telemedicine codes)."""
    key = variant or str(kind)
    if kind == PayerKind.MEDICAID and state:
        own = [p for p in profiles if p.key == key and p.state == state.upper()]
        if own:
            return in_force(own, on=on, what=f"Medicaid {state} profile")
    versions = [p for p in profiles if p.key == key and p.kind == kind and p.state is None]
    if not versions:
        raise NoRulesError(f"No payer profile called {key!r}.")
    return in_force(versions, on=on, what=f"{key} payer profile")


def _check_dated(versions: Sequence[_Dated], what: str) -> None:
    starts = [version.effective_from for version in versions]
    if not starts or starts != sorted(set(starts)):
        raise RuleDataError(f"{what}: versions must be listed oldest first, one per date")


def validate_visit_code_sets(sets: Sequence[VisitCodeSet]) -> None:
    _check_dated(sets, "visit codes")
    for code_set in sets:
        code_set.validate()


def validate_monitoring_rule_sets(sets: Sequence[MonitoringRuleSet]) -> None:
    _check_dated(sets, "monitoring rules")
    for rule_set in sets:
        rule_set.validate()


def validate_payer_profiles(profiles: Sequence[PayerProfile]) -> None:
    for key_and_state in {(p.key, p.state) for p in profiles}:
        versions = [p for p in profiles if (p.key, p.state) == key_and_state]
        _check_dated(versions, f"payer profile {key_and_state[0]}")
        if len({p.kind for p in versions}) != 1:
            raise RuleDataError(f"payer profile {key_and_state[0]}: one payer kind per key")
    for profile in profiles:
        profile.validate()


def validate_all() -> None:
    validate_visit_code_sets(VISIT_CODE_SETS)
    validate_monitoring_rule_sets(MONITORING_RULE_SETS)
    validate_payer_profiles(PAYER_PROFILES)


validate_all()


# Interprofessional consultations (e-consults): 99446-99449, 99451, 99452.
def interprofessional_rules_on(day: date) -> InterprofessionalRuleSet:
    return in_force(INTERPROFESSIONAL_RULE_SETS, on=day, what="interprofessional rules")


def validate_interprofessional_rule_sets(sets: Sequence[InterprofessionalRuleSet]) -> None:
    _check_dated(sets, "interprofessional rules")
    for rule_set in sets:
        rule_set.validate()


validate_interprofessional_rule_sets(INTERPROFESSIONAL_RULE_SETS)


# Online digital E/M and communication technology-based services (e-visits).
def online_codes_on(day: date) -> OnlineCodeSet:
    return in_force(ONLINE_CODE_SETS, on=day, what="online visit codes")


validate_online_code_sets(ONLINE_CODE_SETS)
