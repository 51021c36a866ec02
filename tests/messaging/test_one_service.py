"""Starting a conversation is one service per use case: the website chat matches or registers
the patient and starts the thread all or nothing, and the limit on conversations a patient
starts is the thread_start service's, so every door that calls it is held to it."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from messaging import services
from messaging.models import Origin, Thread
from telehealth.accounts.models import Patient
from tests.conftest import World, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


CHAT = {
    "name": "Sam New",
    "date_of_birth": "1990-04-04",
    "phone": "(617) 555-0444",
    "body": "Do you take new patients?",
    "consent": "on",
}


def _counts() -> tuple[int, int]:
    return Patient.objects.count(), Thread.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": "x" * (services.MAX_BODY + 1)}, "limited to 5,000 characters"),
        ({"body": "   "}, "Write a message first"),
        ({"phone": "12"}, "phone number"),
        ({"name": "  "}, "cannot be blank"),
    ],
)
def test_a_refused_web_chat_leaves_no_patient_behind(
    world: World, change: dict[str, str], message: str
) -> None:
    before = _counts()
    fields: dict[str, str] = {
        "name": "Sam New",
        "phone": "+16175550444",
        "body": "Do you take new patients?",
        **change,
    }
    with pytest.raises(services.MessagingError, match=message):
        services.web_chat_start(
            practice=world.practice,
            name=fields["name"],
            date_of_birth=date(1990, 4, 4),
            phone=fields["phone"],
            body=fields["body"],
        )
    assert _counts() == before


@pytest.mark.django_db
def test_web_chat_refused_after_the_patient_is_registered_answers_4xx_and_keeps_no_patient(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_kwargs: object) -> None:
        raise services.MessagingError("We cannot take messages right now.")

    monkeypatch.setattr(services, "thread_start", refuse)
    before = _counts()
    client = Client(raise_request_exception=False)
    response = client.post(f"/messaging/chat/{world.practice.slug}/", CHAT)
    assert response.status_code == 400
    assert b"We cannot take messages right now." in response.content
    assert _counts() == before


@pytest.mark.django_db
def test_web_chat_with_patient_data_the_record_refuses_answers_4xx_with_its_message(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def invalid(_patient: Patient) -> None:
        raise ValidationError({"legal_name": "Enter the name on your ID."})

    monkeypatch.setattr(Patient, "clean", invalid)
    before = _counts()
    client = Client(raise_request_exception=False)
    response = client.post(f"/messaging/chat/{world.practice.slug}/", CHAT)
    assert response.status_code == 400
    assert b"Enter the name on your ID." in response.content
    assert _counts() == before


@pytest.mark.django_db
def test_a_returning_patient_chats_without_a_second_record(world: World) -> None:
    patient = world.patient
    before = Patient.objects.count()
    thread = services.web_chat_start(
        practice=world.practice,
        name="Someone Else",
        date_of_birth=patient.date_of_birth,
        phone=patient.phone,
        body="Is my prescription ready?",
    )
    assert thread.patient == patient and thread.origin == Origin.WEB_CHAT
    assert Patient.objects.count() == before
    patient.refresh_from_db()
    assert patient.sms_consent


@pytest.mark.django_db
def test_the_new_thread_limit_is_the_services(world: World) -> None:
    patient, user = world.patient, world.patient.user
    assert user is not None
    for n in range(services.NEW_THREADS_PER_DAY):
        services.thread_start(patient=patient, subject=f"Question {n}", body="Hello", by=user)
    with pytest.raises(services.MessagingError):  # a refused start does not use up a try
        services.thread_start(patient=patient, subject="Empty", body="", by=user)
    with pytest.raises(services.MessagingRateLimited, match="many conversations today"):
        services.thread_start(patient=patient, subject="One more", body="Hello", by=user)
    # Staff reaching the patient, and texts, are not the patient starting conversations.
    services.thread_start(
        patient=patient, subject="From us", body="Hi", origin=Origin.STAFF, by=world.clinician
    )
    services.sms_received(patient=patient, body="Another question")


@pytest.mark.django_db
def test_the_new_thread_page_shows_the_services_limit(world: World) -> None:
    patient, user = world.patient, world.patient.user
    assert user is not None
    for n in range(services.NEW_THREADS_PER_DAY):
        services.thread_start(patient=patient, subject=f"Question {n}", body="Hello", by=user)
    client = sign_in(Client(), user)
    before = Thread.objects.count()
    response = client.post(
        "/messaging/new/", {"subject": "More", "body": "Hello", "category": "other"}
    )
    assert response.status_code == 429
    assert b"many conversations today" in response.content
    assert Thread.objects.count() == before
