import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from scheduling import services as scheduling
from scheduling.models import Appointment, BookedVia, Status
from telehealth.accounts.models import Patient
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import (
    InboundMessage,
    OutboundMessage,
    PhoneOptOut,
    RejectedWebhook,
    StatusCallback,
)
from tests.conftest import sign_in
from tests.scheduling.conftest import local


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


TOKEN = "test-twilio-auth-token"
SITE = "https://clinic.example.org"


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.SITE_URL = SITE


def post_signed(client, path, params, *, token=TOKEN):
    signature = RequestValidator(token).compute_signature(SITE + path, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


sid_counter = iter(range(10**6))


def text(client, body, sender="+16175550123", sid=None):
    params = {
        "MessageSid": sid or f"SM{next(sid_counter):032d}",
        "From": sender,
        "To": "+16175550100",
        "Body": body,
    }
    return post_signed(client, "/webhooks/twilio/sms", params)


@pytest.fixture
def booked(world, video_type):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    world.patient.refresh_from_db()
    return scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )


def replies(template):
    """The texts answering; a cancellation also emails its calendar file."""
    return OutboundMessage.objects.filter(template=template, channel="sms")


def test_a_forged_signature_is_refused_and_recorded(client, world):
    params = {"MessageSid": "SMforged", "From": "+16175550123", "Body": "STOP"}
    response = post_signed(client, "/webhooks/twilio/sms", params, token="wrong-token")
    assert response.status_code == 403
    assert client.post("/webhooks/twilio/sms", params).status_code == 403  # no signature
    assert RejectedWebhook.objects.count() == 2
    assert not InboundMessage.objects.exists()
    assert not PhoneOptOut.objects.exists()


def test_a_tampered_body_breaks_the_signature(client, world):
    params = {"MessageSid": "SM1", "From": "+16175550123", "Body": "C"}
    signature = RequestValidator(TOKEN).compute_signature(SITE + "/webhooks/twilio/sms", params)
    response = client.post(
        "/webhooks/twilio/sms", {**params, "Body": "STOP"}, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403


@pytest.mark.parametrize("word", ["C", "yes", "Yes."])
def test_c_or_yes_confirms_the_next_appointment(client, booked, word):
    assert text(client, word).status_code == 200
    booked.refresh_from_db()
    assert booked.status == Status.CONFIRMED
    assert replies("sms.confirmed").count() == 1


@pytest.mark.parametrize("word", ["N", "cancel"])
def test_n_or_cancel_cancels_and_frees_the_slot(client, booked, word):
    text(client, word)
    booked.refresh_from_db()
    assert booked.status == Status.CANCELLED
    assert replies("appointment.cancelled").count() == 1
    again = scheduling.appointment_book(
        provider=booked.provider,
        patient=booked.patient,
        appointment_type=booked.appointment_type,
        start=booked.start,
        by=None,
        via=BookedVia.ONLINE,
    )
    assert again.pk != booked.pk


def test_r_sends_a_reschedule_link(client, booked):
    text(client, "R")
    link = replies("sms.reschedule").get()
    assert "/appointments/" in link.body


@pytest.mark.parametrize("word", ["STOP", "unsubscribe"])
def test_stop_opts_out_at_once_and_suppresses_queued_texts(client, booked, word):
    assert OutboundMessage.objects.filter(channel="sms", status="queued").exists()
    text(client, word)
    patient = Patient.objects.get(pk=booked.patient_id)
    assert not patient.sms_consent
    assert not OutboundMessage.objects.filter(channel="sms", status="queued").exists()
    assert OutboundMessage.objects.filter(channel="sms", status="suppressed").exists()
    assert AuditEvent.objects.filter(patient=patient, detail__contains="opt-out").exists()
    # Nothing new is texted afterwards either.
    scheduling.appointment_reschedule(appointment=booked, start=local(4, 10), by=None)
    assert not OutboundMessage.objects.filter(channel="sms", status="queued").exists()


def test_start_opts_back_in(client, booked):
    text(client, "STOP")
    text(client, "START")
    patient = Patient.objects.get(pk=booked.patient_id)
    assert patient.sms_consent and patient.sms_consent_at is not None
    assert not PhoneOptOut.objects.exists()
    assert replies("sms.opted_in").count() == 1
    assert AuditEvent.objects.filter(patient=patient, detail__contains="opt-in").exists()


def test_help_answers_with_the_practice_contact(client, booked):
    text(client, "HELP")
    assert "(617) 555-0100" in replies("sms.help").get().body


def test_anything_else_waits_for_the_front_desk(client, world, booked):
    text(client, "Can I bring my daughter to the visit?")
    message = InboundMessage.objects.get()
    # Patients of two practices share this number: both practices' front desks see it.
    assert message.handled_by == "unrouted" and message.practice is None
    sign_in(client, world.front_desk)
    page = client.get("/texts/unrouted/")
    assert b"bring my daughter" in page.content
    client.post("/texts/unrouted/", {"message": message.pk})
    assert not client.get("/texts/unrouted/").context["texts"]


def test_an_unknown_number_saying_c_gets_no_effect(client, booked):
    text(client, "C", sender="+12025550111")
    booked.refresh_from_db()
    assert booked.status == Status.BOOKED
    assert InboundMessage.objects.get().handled_by == "unrouted"


def test_replaying_the_same_inbound_message_has_one_effect(client, booked):
    for _ in range(3):
        assert text(client, "N", sid="SMreplayed").status_code == 200
    assert InboundMessage.objects.count() == 1
    assert Appointment.objects.get(pk=booked.pk).status == Status.CANCELLED
    assert replies("appointment.cancelled").count() == 1
    assert OutboundMessage.objects.filter(template="appointment.cancelled").count() == 2


def test_status_callbacks_update_once_and_never_go_backwards(client, booked):
    message = OutboundMessage.objects.filter(channel="sms").first()
    assert message is not None
    OutboundMessage.objects.filter(pk=message.pk).update(status="sent", provider_message_id="SMabc")
    delivered = {"MessageSid": "SMabc", "MessageStatus": "delivered"}
    for _ in range(2):
        assert post_signed(client, "/webhooks/twilio/status", delivered).status_code == 204
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None
    first_delivered_at = message.delivered_at
    post_signed(client, "/webhooks/twilio/status", {"MessageSid": "SMabc", "MessageStatus": "sent"})
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at == first_delivered_at


def test_failed_delivery_is_recorded(client, booked):
    message = OutboundMessage.objects.filter(channel="sms").first()
    assert message is not None
    OutboundMessage.objects.filter(pk=message.pk).update(status="sent", provider_message_id="SMxyz")
    post_signed(
        client,
        "/webhooks/twilio/status",
        {"MessageSid": "SMxyz", "MessageStatus": "undelivered", "ErrorCode": "30003"},
    )
    message.refresh_from_db()
    assert message.status == "failed" and "30003" in message.last_error


def test_webhook_without_required_fields_is_a_clear_400(client, world):
    assert post_signed(client, "/webhooks/twilio/sms", {"Body": "hi"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/webhooks/twilio/sms", "Body"),
        ("/webhooks/twilio/sms", "From"),
        ("/webhooks/twilio/sms", "MessageSid"),
        ("/webhooks/twilio/status", "MessageStatus"),
        ("/webhooks/twilio/status", "ErrorCode"),
    ],
)
def test_a_signed_webhook_with_a_nul_character_is_a_clear_400_and_stores_nothing(
    client, booked, path, field
):
    params = {
        "MessageSid": "SM" + "0" * 32,
        "From": "+16175550123",
        "To": "+16175550100",
        "Body": "C",
        "MessageStatus": "delivered",
        "ErrorCode": "30003",
    }
    params[field] = params[field][:1] + "\x00" + params[field][1:]
    response = post_signed(client, path, params)
    assert response.status_code == 400
    assert b"NUL" in response.content
    assert not InboundMessage.objects.exists()
    assert not RejectedWebhook.objects.exists()
    assert not StatusCallback.objects.exists()
    assert Appointment.objects.get(pk=booked.pk).status == booked.status
