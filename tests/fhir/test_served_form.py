"""The API serves each mapper's dict as it is built, without building the fhir.resources
model: the tests check every resource a mapper builds instead (tests/conftest.py,
served_fhir_is_checked). These tests show that check fails on what it must refuse."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from telehealth.fhir.registry import instant, mapper_for, registered
from tests.fhir.care import assert_served_form


def patient_mapper():
    mapper = mapper_for("Patient")
    assert mapper is not None
    return mapper


def test_every_registered_type_is_checked_as_it_is_built():
    assert registered()
    for mapper in registered():
        assert mapper.to_fhir.__name__ == "built", mapper.resource_type


def test_a_resource_in_the_form_the_model_writes_passes():
    assert_served_form(
        patient_mapper(),
        {"resourceType": "Patient", "id": "1", "meta": {"lastUpdated": "2026-03-02T14:00:00Z"}},
    )


@pytest.mark.parametrize(
    ("resource", "error"),
    [
        # Invalid FHIR: not a date.
        ({"resourceType": "Patient", "id": "1", "birthDate": "Pat"}, ValidationError),
        # Valid, but not as the model writes it: a UTC instant must end in "Z".
        (
            {
                "resourceType": "Patient",
                "id": "1",
                "meta": {"lastUpdated": "2026-03-02T14:00:00+00:00"},
            },
            AssertionError,
        ),
        # Not JSON at all.
        ({"resourceType": "Patient", "id": "1", "multipleBirthInteger": Decimal(2)}, TypeError),
        # A null the model leaves out.
        ({"resourceType": "Patient", "id": "1", "active": None}, AssertionError),
        # Another type.
        ({"resourceType": "Practitioner", "id": "1"}, AssertionError),
    ],
)
def test_a_mapper_emitting_what_the_model_would_not_write_fails(resource, error):
    with pytest.raises(error):
        assert_served_form(patient_mapper(), resource)


def test_instants_are_written_as_the_model_writes_them():
    moment = datetime(2026, 3, 2, 14, 0, 0, 123000, tzinfo=UTC)
    assert instant(moment) == "2026-03-02T14:00:00.123000Z"
    eastern = moment.astimezone(timezone(timedelta(hours=-5)))
    assert instant(eastern) == "2026-03-02T09:00:00.123000-05:00"
