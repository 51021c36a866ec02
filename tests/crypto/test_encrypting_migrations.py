"""The data migrations that moved plaintext PHI under encryption: rows written before them are
encrypted and indexed, stored files renamed, and the way back decrypts (so rows written by
today's code survive a rollback of the release). One upgrade from before all of them is in
test_upgrade_from_plaintext.py."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from messaging import services as messaging
from scheduling import services as scheduling
from scheduling.models import Appointment, BookedVia
from telehealth.crypto.migration import encrypt_columns
from tests.crypto.migrating import latest, migrate, stored
from tests.scheduling.conftest import local


@pytest.mark.django_db(transaction=True)
def test_a_rerun_encrypts_nothing_twice(world, video_type):
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.STAFF,
        reason="Follow-up",
    )
    before = stored("scheduling_appointment", "reason", appointment.pk)
    step = encrypt_columns("scheduling.Appointment", "reason", "cancel_reason")
    state = MigrationExecutor(connection).loader.project_state(latest())
    with connection.schema_editor() as editor:
        step.code(state.apps, editor)
    assert stored("scheduling_appointment", "reason", appointment.pk) == before
    assert Appointment.objects.get(pk=appointment.pk).reason == "Follow-up"


@pytest.mark.django_db(transaction=True)
def test_texted_picture_urls_from_before_are_encrypted(world):
    from messaging.models import MediaFetch
    from telehealth.notify.media import Media
    from telehealth.notify.models import InboundMessage

    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    message = messaging.sms_received(
        patient=world.patient, body="", media=[Media(url, "image/jpeg")]
    )
    fetch = MediaFetch.objects.get(message=message)
    inbound = InboundMessage.objects.create(
        message_sid="MM" + "1" * 32,
        from_phone="+16175550123",
        from_index="x",
        media=[{"url": url, "content_type": "image/jpeg"}],
    )
    try:
        migrate([("messaging", "0003_media_fetch"), ("notify", "0002_inbound_message_media")])
        # The way back decrypts: the previous release reads plaintext.
        assert stored("messaging_mediafetch", "url", fetch.pk) == url
        assert url in stored("notify_inboundmessage", "media", inbound.pk)
        migrate(latest())
    finally:
        migrate(latest())

    for table, column, pk in [
        ("messaging_mediafetch", "url", fetch.pk),
        ("notify_inboundmessage", "media", inbound.pk),
    ]:
        raw = stored(table, column, pk)
        assert raw.startswith("gAAAA") and url not in raw, (table, column)
    assert MediaFetch.objects.get(pk=fetch.pk).url == url
    assert InboundMessage.objects.get(pk=inbound.pk).media == [
        {"url": url, "content_type": "image/jpeg"}
    ]
