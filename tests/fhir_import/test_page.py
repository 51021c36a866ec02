"""The practice admin's import page: upload, the dry run's report, apply; the file waits
encrypted in the session and expires; only practice admins get in."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from scheduling.models import Appointment
from telehealth.accounts.models import Patient, Role
from telehealth.fhir import imports
from telehealth.fhir_import import views
from tests.conftest import sign_in
from tests.fhir_import.test_import import appointment_example, bundle, patient_example
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db
UPLOAD = reverse("fhir_import:upload")
APPLY = reverse("fhir_import:apply")


def upload(client, data: bytes, name: str = "export.json"):
    return client.post(UPLOAD, {"file": SimpleUploadedFile(name, data, "application/json")})


@pytest.fixture
def example_file(world, video_type) -> bytes:
    return bundle(patient_example(), appointment_example(world, local(3, 10)))


def test_an_admin_sees_the_dry_run_then_applies_it(client, world, example_file):
    sign_in(client, world.admin)
    page = upload(client, example_file)
    assert page.status_code == 200
    html = page.content.decode()
    assert "What the import would do" in html and html.count("Would create") >= 3
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()
    # Kept encrypted in the session: neither the name nor the record number in clear.
    stored = client.session[views.SESSION_KEY]
    assert "Chalmers" not in stored and "12345" not in stored
    applied = client.post(APPLY)
    assert applied.status_code == 200 and "Import applied" in applied.content.decode()
    assert Appointment.objects.filter(patient__legal_name="Peter James Chalmers").count() == 1
    assert views.SESSION_KEY not in client.session
    # Applying twice needs a new upload.
    again = client.post(APPLY)
    assert again.status_code == 302 and again["Location"] == UPLOAD
    assert Appointment.objects.count() == 1


def test_an_expired_upload_is_not_applied(client, world, example_file, monkeypatch):
    sign_in(client, world.admin)
    upload(client, example_file)
    monkeypatch.setattr(views, "IMPORT_EXPIRY_SECONDS", -1)
    response = client.post(APPLY)
    assert response.status_code == 302
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_a_refusal_shows_its_reason_in_the_table(client, world, video_type):
    sign_in(client, world.admin)
    past = appointment_example(world, local(-2, 10))
    page = upload(client, bundle(patient_example(), past))
    html = page.content.decode()
    assert "Refused" in html and "in the past" in html
    assert "Bundle.entry[1]" in html


def test_a_file_that_is_not_fhir_or_too_large_is_a_400_with_the_form(client, world, monkeypatch):
    sign_in(client, world.admin)
    response = upload(client, b"\n")
    assert response.status_code == 400 and "no resources" in response.content.decode()
    monkeypatch.setattr(imports, "MAX_BYTES", 10)
    monkeypatch.setattr("telehealth.fhir_import.forms.MAX_BYTES", 10)
    response = upload(client, b"{" + b" " * 20 + b"}")
    assert response.status_code == 400 and "larger than" in response.content.decode()
    assert views.SESSION_KEY not in client.session


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get(UPLOAD)
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN, Role.FRONT_DESK])
def test_other_roles_may_not_import(client, world, example_file, role):
    sign_in(client, world.user_for(role))
    assert client.get(UPLOAD).status_code == 403
    assert upload(client, example_file).status_code == 403
    assert client.post(APPLY).status_code == 403
    assert not Patient.objects.filter(legal_name="Peter James Chalmers").exists()


def test_the_practice_admin_home_links_the_import(client, world):
    sign_in(client, world.admin)
    assert UPLOAD in client.get(reverse("home")).content.decode()
