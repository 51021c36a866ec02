"""Communications over the FHIR API: messages served by telehealth.fhir through messaging's
registered mapper — the round trip, sender and recipient, decrypted text, attachments as links,
replies, each search parameter, and scoping through messaging's selectors (internal staff notes
never reach a patient)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from fhir.resources.R4B.communication import Communication

from messaging import services
from messaging.fhir_api import communication_lookup
from messaging.models import Attachment, Message, MessagingSettings, Team
from telehealth.audit.models import AuditEvent
from tests.fhir.care import ODD_IDS, example, ids, queries_for_a_page, round_trip


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


class Conversation:
    """Pat asks a clinical question; Dr Alpha leaves an internal note; the front desk answers
    with a PDF; Pat thanks them. One minute apart from T0."""

    def __init__(self, world):
        MessagingSettings.objects.create(practice=world.practice, after_hours_reply_on=False)
        self.thread, self.question = services.thread_start(
            patient=world.patient,
            subject="Rash on my arm",
            body="It itches since Monday.",
            category="clinical",
            by=world.patient.user,
        )
        self.note = services.message_post(
            thread=self.thread, by=world.clinician, body="Likely eczema.", internal=True
        )
        self.answer = services.message_post(
            thread=self.thread,
            by=world.front_desk,
            body="See the leaflet attached.",
            files=[SimpleUploadedFile("leaflet.pdf", PDF)],
        )
        self.thanks = services.message_post(
            thread=self.thread, by=world.patient.user, body="Thank you!"
        )
        for minute, message in enumerate(self.messages):
            Message.objects.filter(pk=message.pk).update(created_at=T0 + timedelta(minutes=minute))
            Attachment.objects.filter(message=message).update(
                created_at=T0 + timedelta(minutes=minute)
            )
            message.refresh_from_db()

    @property
    def messages(self) -> list[Message]:
        return [self.question, self.note, self.answer, self.thanks]


@pytest.fixture
def talk(world):
    # Rate-limit counters live in the cache, keyed by ids that repeat between test databases.
    cache.clear()
    return Conversation(world)


def read(fhir, user, message):
    status, body = fhir.as_user(user).get(f"Communication/{message.pk}")
    assert status == 200, body
    return body


def test_a_staff_answer_round_trips_with_its_text_and_a_link_to_its_attachment(fhir, world, talk):
    body = read(fhir, world.front_desk, talk.answer)
    row = communication_lookup(world.front_desk, str(talk.answer.pk))
    assert body == round_trip("Communication", row)
    assert body["status"] == "completed"
    assert body["subject"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["recipient"] == [{"reference": f"Patient/{world.patient.pk}"}]
    # The front desk has no Practitioner: they write for the practice.
    assert body["sender"]["reference"] == f"Organization/{world.practice.pk}"
    assert body["category"][0]["coding"][0]["code"] == "clinical"
    assert body["medium"][0]["coding"][0]["code"] == "ONLINEWRIT"
    assert body["topic"] == {"text": "Rash on my arm"}  # decrypted from the thread
    assert body["sent"] == "2026-03-02T14:02:00Z"
    text, attached = body["payload"]
    assert text == {"contentString": "See the leaflet attached."}
    attachment = talk.answer.attachments.get()
    link = attached["contentAttachment"]
    assert link["url"].endswith(f"/messaging/attachments/{attachment.pk}/")
    assert link["contentType"] == "application/pdf" and link["title"] == "leaflet.pdf"
    assert "data" not in link
    # Answers the question, skipping the internal note in between.
    assert body["inResponseTo"] == [{"reference": f"Communication/{talk.question.pk}"}]
    assert AuditEvent.objects.filter(
        object_type="messaging.Message", object_id=str(talk.answer.pk), patient=world.patient
    ).exists()


def test_the_patient_is_sender_and_the_practice_with_its_team_recipient(fhir, world, talk):
    nurses = Team.objects.create(practice=world.practice, name="Nurses")
    services.assign(thread=talk.thread, by=world.admin, assignee=None, team=nurses)
    body = read(fhir, world.clinician, talk.question)
    assert body["sender"] == {"reference": f"Patient/{world.patient.pk}"}
    assert body["recipient"] == [
        {"reference": f"Organization/{world.practice.pk}", "display": "Alpha Health, Nurses"}
    ]
    assert "inResponseTo" not in body  # the thread's first message
    assert body["payload"] == [{"contentString": "It itches since Monday."}]


def test_a_clinicians_internal_note_is_from_a_practitioner_to_the_practice(fhir, world, talk):
    body = read(fhir, world.clinician, talk.note)
    assert body["sender"]["reference"] == f"Practitioner/{world.clinician.provider.pk}"
    assert body["recipient"][0]["reference"] == f"Organization/{world.practice.pk}"
    assert body["inResponseTo"] == [{"reference": f"Communication/{talk.question.pk}"}]


def test_a_patient_never_gets_an_internal_note(fhir, world, talk):
    client = fhir.as_user(world.patient.user)
    status, _body = client.get(f"Communication/{talk.note.pk}")
    assert status == 404
    _status, bundle = client.get("Communication")
    assert ids(bundle) == sorted(str(m.pk) for m in (talk.question, talk.answer, talk.thanks))
    assert "Likely eczema." not in str(bundle)
    _status, bundle = fhir.as_user(world.front_desk).get("Communication")
    assert str(talk.note.pk) in ids(bundle)


def test_a_texted_message_has_the_written_medium(fhir, world, talk):
    Message.objects.filter(pk=talk.thanks.pk).update(via=Message.Via.SMS)
    body = read(fhir, world.front_desk, talk.thanks)
    assert body["medium"][0]["coding"][0]["code"] == "WRITTEN"
    assert body["medium"][0]["text"] == "Text message (SMS)"


def test_search_by_patient_subject_and_category(fhir, world, talk):
    _other, other_question = services.thread_start(
        patient=world.other_patient,
        subject="Bill",
        body="Why was I charged twice?",
        category="billing",
        by=world.other_patient.user,
    )
    client = fhir.as_user(world.front_desk)
    _status, bundle = client.get("Communication", patient=f"Patient/{world.other_patient.pk}")
    assert ids(bundle) == [str(other_question.pk)]
    _status, bundle = client.get("Communication", subject=str(world.patient.pk))
    assert ids(bundle) == sorted(str(m.pk) for m in talk.messages)
    _status, bundle = client.get(
        "Communication", category="urn:telehealth:messaging:category|billing"
    )
    assert ids(bundle) == [str(other_question.pk)]
    _status, bundle = client.get("Communication", category="clinical,billing")
    assert bundle["total"] == 5
    _status, bundle = client.get("Communication", category="http://example.org|billing")
    assert bundle["total"] == 0


def test_search_by_sent_with_prefixes(fhir, world, talk):
    client = fhir.as_user(world.front_desk)

    def found(value: str) -> list[str]:
        status, bundle = client.get("Communication", sent=value)
        assert status == 200, bundle
        return ids(bundle)

    assert found("2026-03-02") == sorted(str(m.pk) for m in talk.messages)
    assert found("2026-03-02T14:02:00Z") == [str(talk.answer.pk)]
    assert found("ge2026-03-02T14:02:00Z") == sorted([str(talk.answer.pk), str(talk.thanks.pk)])
    assert found("lt2026-03-02T14:01:00Z") == [str(talk.question.pk)]
    assert found("gt2026-03-02") == []


def test_last_updated_moves_when_a_picture_is_attached_later(fhir, world, talk):
    later = T0 + timedelta(hours=2)
    Attachment.objects.create(
        message=talk.thanks,
        file=ContentFile(PNG, name="photo.png"),
        name="photo.png",
        content_type="image/png",
        size=len(PNG),
        created_at=later,
    )
    client = fhir.as_user(world.front_desk)
    _status, bundle = client.get("Communication", _lastUpdated="ge2026-03-02T15:00:00Z")
    assert ids(bundle) == [str(talk.thanks.pk)]
    resource = bundle["entry"][0]["resource"]
    assert resource["meta"]["lastUpdated"] == "2026-03-02T16:00:00Z"
    assert resource["sent"] == "2026-03-02T14:03:00Z"
    _status, bundle = client.get("Communication", _lastUpdated="lt2026-03-02T14:02:00Z")
    assert ids(bundle) == sorted([str(talk.question.pk), str(talk.note.pk)])


def test_anonymous_gets_401(fhir, world, talk):
    status, body = fhir.get(f"Communication/{talk.answer.pk}")
    assert status == 401 and body["resourceType"] == "OperationOutcome"


def test_another_practice_gets_404_and_an_empty_search(fhir, world, talk):
    client = fhir.as_user(world.outside_clinician)
    status, _body = client.get(f"Communication/{talk.answer.pk}")
    assert status == 404
    _status, bundle = client.get("Communication")
    assert bundle["total"] == 0


def test_another_patient_and_a_clinician_off_the_care_team_get_404(fhir, world, talk):
    status, _body = fhir.as_user(world.other_patient.user).get(f"Communication/{talk.answer.pk}")
    assert status == 404
    status, _body = fhir.as_user(world.other_clinician).get(f"Communication/{talk.answer.pk}")
    assert status == 404


def test_our_coding_matches_the_published_communication_example(fhir, world, talk):
    """Communication-example codes its medium in v3 ParticipationMode, as we do, and is
    completed, as every message we serve is."""
    published = example("communication-example.json")
    Communication.model_validate(published)
    body = read(fhir, world.front_desk, talk.answer)
    assert body["medium"][0]["coding"][0]["system"] == published["medium"][0]["coding"][0]["system"]
    assert body["status"] == published["status"]
    assert set(body["payload"][0]) == set(published["payload"][0])  # contentString
    assert (
        body["subject"]["reference"].split("/")[0]
        == published["subject"]["reference"].split("/")[0]
    )


def test_a_page_costs_the_same_queries_whatever_its_size(world, talk):
    few = queries_for_a_page("Communication", world.front_desk)
    for n in range(4):
        services.message_post(
            thread=talk.thread,
            by=world.clinician if n % 2 else world.front_desk,
            body=f"Reply {n}",
            files=[SimpleUploadedFile(f"page{n}.pdf", PDF)],
        )
    many = queries_for_a_page("Communication", world.front_desk)
    assert (few[0], many[0]) == (4, 8)
    assert many[1] == few[1]


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_ids_and_references_match_nothing(fhir, world, odd):
    client = fhir.as_user(world.admin)
    status, body = client.get(f"Communication/{odd}")
    assert status == 404 and body["resourceType"] == "OperationOutcome"
    for name in ["patient", "subject"]:
        status, bundle = client.get("Communication", **{name: f"Patient/{odd}"})
        assert status == 200 and bundle["total"] == 0, (name, bundle)
