"""SMART system scopes, v1 and v2 syntax: pure rules, no database."""

import pytest

from telehealth.fhir.scopes import Scope, covered, granted, parse, permits


def scope(text: str) -> Scope:
    parsed = parse(text)
    assert parsed is not None, text
    return parsed


@pytest.mark.parametrize(
    ("text", "resource_type", "permissions"),
    [
        ("system/Observation.read", "Observation", "rs"),
        ("system/Observation.write", "Observation", "cud"),
        ("system/*.*", "*", "cruds"),
        ("system/Patient.rs", "Patient", "rs"),
        ("system/Patient.cruds", "Patient", "cruds"),
        ("system/*.c", "*", "c"),
        ("system/Patient.u", "Patient", "u"),
    ],
)
def test_scopes_are_read_in_both_syntaxes(text, resource_type, permissions):
    assert parse(text) == Scope(resource_type, frozenset(permissions))


@pytest.mark.parametrize(
    "text",
    [
        "system/Patient.sr",  # v2 letters out of order
        "system/Patient.rr",
        "system/Patient.x",
        "system/Patient.",
        "system/Patient.rs?category=vital-signs",  # narrowed: not understood, never granted
        "patient/Patient.read",
        "user/*.rs",
        "system/patient.rs",
        "launch",
        "openid",
    ],
)
def test_anything_else_is_not_a_scope_we_grant(text):
    assert parse(text) is None


def test_permits_by_type_and_interaction():
    scopes = [scope("system/Observation.rs"), scope("system/*.c")]
    assert permits(scopes, "Observation", "s")
    assert permits(scopes, "Patient", "c")
    assert not permits(scopes, "Patient", "r")
    assert not permits(scopes, "Observation", "u")


def test_a_wildcard_is_covered_only_by_a_wildcard():
    assert not covered(scope("system/*.rs"), [scope("system/Patient.rs")])
    assert covered(scope("system/Patient.r"), [scope("system/*.read")])
    assert covered(scope("system/Patient.rs"), [scope("system/Patient.r"), scope("system/*.s")])


def test_granted_keeps_what_is_within_the_registration_as_asked():
    allowed = ["system/Patient.read", "system/Observation.rs"]
    asked = ["system/Patient.rs", "system/Patient.write", "system/Observation.r", "bogus"]
    assert granted(asked, allowed) == ["system/Patient.rs", "system/Observation.r"]
    assert granted(["system/Patient.rs", "system/Patient.rs"], allowed) == ["system/Patient.rs"]
    assert granted([], allowed) == []
