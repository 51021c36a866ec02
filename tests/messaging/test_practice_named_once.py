"""Texts to patients open with the practice's name exactly once: the automatic replies'
wording already names the practice, and the SMS bridge must not add it again."""

from datetime import datetime
from unittest import mock

import pytest

from messaging import services
from messaging.models import MessagingSettings
from telehealth.notify.models import OutboundMessage
from tests.messaging.test_messaging import consent_to_texts
from tests.notify.test_webhooks import twilio_settings  # noqa: F401  (autouse fixture)


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


AFTER_HOURS = (
    "Alpha Health: thanks for your message. We're closed now and will answer when we open. "
    "In an emergency, call 911."
)


@pytest.fixture
def closed_at_night(world, settings):
    consent_to_texts(world.patient)
    world.patient.preferred_channel = "sms"
    world.patient.save(update_fields=["preferred_channel"])
    world.practice.business_hours = {d: [["08:00", "17:00"]] for d in services.DAYS}
    world.practice.save()
    settings.TIME_ZONE = "UTC"
    return datetime(2026, 11, 24, 23, 30, tzinfo=world.practice.zone)


@pytest.mark.django_db
def test_the_after_hours_reply_names_the_practice_once(world, closed_at_night):
    with mock.patch("django.utils.timezone.now", return_value=closed_at_night):
        services.sms_received(patient=world.patient, body="Is my prescription ready?")
    reply = OutboundMessage.objects.get(template="messaging.message")
    assert reply.body == AFTER_HOURS
    assert reply.body.count("Alpha Health") == 1


@pytest.mark.django_db
def test_the_urgent_reply_names_the_practice_once(world, closed_at_night):
    services.sms_received(patient=world.patient, body="I have chest pain")
    reply = OutboundMessage.objects.get(template="messaging.message")
    assert reply.body.startswith("Alpha Health: if this is an emergency")
    assert reply.body.count("Alpha Health") == 1


@pytest.mark.django_db
def test_staff_replies_and_rule_replies_still_say_who_wrote(world, closed_at_night):
    MessagingSettings.objects.create(practice=world.practice, after_hours_reply_on=False)
    message = services.sms_received(patient=world.patient, body="Hello")
    services.message_post(thread=message.thread, by=world.front_desk, body="We open at 8.")
    assert OutboundMessage.objects.get(template="messaging.message").body == (
        "Alpha Health: We open at 8."
    )


def test_a_text_already_signed_is_not_signed_again(world):
    assert services.signed_by_practice(world.practice, "Alpha Health: hi") == "Alpha Health: hi"
    assert services.signed_by_practice(world.practice, "hi") == "Alpha Health: hi"
