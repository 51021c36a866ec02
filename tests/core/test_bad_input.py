from datetime import date

import pytest
from django.core.exceptions import ValidationError

from telehealth.accounts import services
from telehealth.accounts.models import Patient
from telehealth.accounts.validation import normalise_phone, validate_npi
from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


@pytest.mark.parametrize("raw", ["", "hello", "12", "+1 555", "+1 617 555 01423333"])
def test_invalid_phone_numbers_get_a_clear_message(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalise_phone(raw)
    assert "phone number" in excinfo.value.messages[0]


def test_valid_phone_numbers_become_e164():
    assert normalise_phone("(617) 555-0142") == "+16175550142"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("npi", ["123", "abcdefghij", "1234567890"])
def test_invalid_npi_is_refused(npi):
    with pytest.raises(ValidationError):
        validate_npi(npi)


def test_patient_create_with_a_bad_phone_leaves_no_row(world):
    before = Patient.objects.count()
    with pytest.raises(ValidationError):
        services.patient_create(
            practice=world.practice,
            legal_name="Bad Phone",
            date_of_birth=date(1990, 1, 1),
            phone="not a phone",
        )
    assert Patient.objects.count() == before


def test_oversized_body_is_refused_with_413(client, db, settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    response = client.post(
        "/accounts/login/", data=b"x" * 5000, content_type="application/octet-stream"
    )
    assert response.status_code == 413
    assert b"too large" in response.content


def test_oversized_api_body_gets_json_413(client, db, settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    response = client.post("/api/v1/me", data=b"x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_form_fields_beyond_the_memory_limit_get_413_not_500(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/accounts/login/", {"username": "a@b.test", "password": "p" * 5000})
    assert response.status_code == 413
    assert b"too large" in response.content


@pytest.mark.parametrize(
    "path", ["/api/v1/patients/abc", "/api/v1/patients/99999999999999999999", "/patients/abc/"]
)
def test_malformed_ids_are_4xx(client, world, path):
    sign_in(client, world.front_desk)
    assert 400 <= client.get(path).status_code < 500


def test_unknown_api_route_is_json_404(client, world):
    sign_in(client, world.front_desk)
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
