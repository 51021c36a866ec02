"""Odd values in every search parameter of every registered type answer a FHIR result or an
OperationOutcome 4xx, never a 500: ids past a 64-bit key, Unicode digits, dates at the ends of
the calendar. The test walks the registry, so a type added later is covered without anyone
adding it here."""

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from telehealth.fhir.registry import DATE, REFERENCE, STRING, TOKEN, registered
from telehealth.fhir.search import CORE_PARAMS


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"
ODD_VALUES = {
    REFERENCE: [HUGE, f"Patient/{HUGE}", "²", "١", "Patient/", "a,b,,"],
    TOKEN: [HUGE, f"urn:x|{HUGE}", "²", "|", "x|"],
    DATE: ["9999-12-31", "9999-12", "gt9999-12-31T23:59:59Z", "0001-01-01", "lt0001-01-01"],
    STRING: [HUGE, "²", "%", "\\,"],
}


def _cases():
    for mapper in registered():
        params = {**CORE_PARAMS, **mapper.params}
        for name, param in params.items():
            for value in ODD_VALUES[param.type]:
                yield mapper.resource_type, name, value
        for odd_id in (HUGE, "²", "١", f"{mapper.id_prefix}{HUGE}"):
            yield mapper.resource_type, None, odd_id


@pytest.mark.parametrize(("resource_type", "name", "value"), list(_cases()))
def test_odd_values_never_fail_the_server(fhir, world, resource_type, name, value):
    client = fhir.as_user(world.admin)
    if name is None:
        status, body = client.get(f"{resource_type}/{value}")
        assert status == 404, body
        OperationOutcome.model_validate(body)
        return
    params = {name: value}
    if resource_type == "Slot" and name != "start":
        params["start"] = ["ge2026-12-10", "lt2026-12-11"]  # Slot searches need a window
    status, body = client.get(resource_type, **params)
    assert status in (200, 400), body
    if status == 200:
        Bundle.model_validate(body)
    else:
        OperationOutcome.model_validate(body)
