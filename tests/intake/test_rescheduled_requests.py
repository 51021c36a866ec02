"""Moving a visit asks for forms again only when some are still waiting."""

import pytest

from intake import services
from intake.models import ConsentDocument, Form, Signature
from scheduling import services as scheduling
from scheduling.models import BookedVia
from telehealth.notify.models import OutboundMessage
from tests.intake.test_intake import history_answers
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(world, video_type):
    """A booked video visit whose forms request has gone out."""
    services.install_builtin(world.practice)
    Form.objects.get(practice=world.practice, slug="medical-history").appointment_types.add(
        video_type
    )
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    assert services.request_forms() == 1
    return appointment


def _complete_everything(patient) -> None:
    form = Form.objects.get(practice=patient.practice, slug="medical-history")
    response = services.response_for(patient=patient, form=form)
    services.response_save(response=response, raw=history_answers(), complete=True)
    for document in ConsentDocument.objects.filter(practice=patient.practice):
        version = document.current
        assert version is not None
        services.consent_sign(patient=patient, consent=version, signer_name="Pat Alpha")
    assert Signature.objects.exists()


def test_a_moved_visit_with_forms_complete_is_not_asked_again(world, asked):
    _complete_everything(world.patient)
    scheduling.appointment_reschedule(appointment=asked, start=local(4, 11), by=None)
    assert services.request_forms() == 0
    assert OutboundMessage.objects.filter(template="intake.request").count() == 1
    assert services.request_forms() == 0  # marked, not re-examined on every run


def test_a_moved_visit_with_forms_waiting_is_asked_again(world, asked):
    scheduling.appointment_reschedule(appointment=asked, start=local(4, 11), by=None)
    assert services.request_forms() == 1
    assert OutboundMessage.objects.filter(template="intake.request", channel="email").count() == 2
