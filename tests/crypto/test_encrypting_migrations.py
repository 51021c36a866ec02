"""The data migrations that moved plaintext PHI under encryption: rows written before them are
encrypted and indexed, stored files renamed, and the way back decrypts (so rows written by
today's code survive a rollback of the release)."""

import os
import posixpath

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from intake.models import InsuranceCard
from messaging import services as messaging
from messaging.models import Attachment
from scheduling import services as scheduling
from scheduling.models import Appointment, BookedVia
from telehealth.accounts import services as accounts
from telehealth.accounts.models import BreakGlassGrant, User, email_index
from telehealth.audit.services import verify_chain
from telehealth.crypto.migration import encrypt_columns
from telehealth.crypto.storage import RANDOM_NAME
from tests.migrating import latest, migrate
from tests.scheduling.conftest import local
from visits import services as visits
from visits.models import Visit

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

BEFORE = [
    ("accounts", "0001_initial"),
    ("scheduling", "0003_reminderrule"),
    ("visits", "0002_media_and_summary"),
    ("audit", "0004_chains_and_subjects"),  # below it, events lose their chain and version
    ("intake", "0003_one_open_response"),
    ("messaging", "0001_initial"),
]


def stored(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def store(table: str, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def records(world, video_type, media):
    """Rows in every column the migrations change, written by today's code."""
    kept = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=world.patient.user,
        via=BookedVia.ONLINE,
        reason="Chest pain since Sunday",
    )
    gone = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 11),
        by=world.patient.user,
        via=BookedVia.ONLINE,
    )
    scheduling.appointment_cancel(appointment=gone, by=world.patient.user, reason="Feeling better")
    visit = visits.visit_for_appointment(kept)
    visits.set_provider_status(visit=visit, by=world.clinician, text="Running 5 minutes late")
    grant = accounts.break_glass_grant(
        clinician=world.other_clinician, patient=world.patient, reason="Unresponsive at home"
    )
    accounts.break_glass_review(grant=grant, by=world.admin, note="Justified, covering")
    _thread, message = messaging.thread_start(
        patient=world.patient,
        subject="Results",
        body="Attached",
        by=world.patient.user,
        files=[SimpleUploadedFile("lab-result.pdf", PDF, "application/pdf")],
    )
    return {"kept": kept, "gone": gone, "visit": visit, "grant": grant, "message": message}


def rename_to(field_file, legacy: str) -> None:
    """Put a stored file back under a name of the kind uploads used to get."""
    os.makedirs(os.path.dirname(field_file.storage.path(legacy)), exist_ok=True)
    os.replace(field_file.path, field_file.storage.path(legacy))


@pytest.mark.django_db(transaction=True)
def test_rows_from_before_are_encrypted_indexed_and_files_renamed(world, records, media):
    kept, gone, visit, grant = records["kept"], records["gone"], records["visit"], records["grant"]
    attachment = records["message"].attachments.get()
    try:
        migrate(BEFORE)
        # The way back decrypts: the previous release reads plaintext.
        assert stored("accounts_user", "email", world.clinician.pk) == "doc@alpha.test"
        assert stored("scheduling_appointment", "reason", kept.pk) == "Chest pain since Sunday"
        assert stored("scheduling_appointment", "cancel_reason", gone.pk) == "Feeling better"
        assert stored("visits_visit", "provider_status", visit.pk) == "Running 5 minutes late"
        assert stored("accounts_breakglassgrant", "reason", grant.pk) == "Unresponsive at home"
        assert stored("accounts_breakglassgrant", "review_note", grant.pk) == "Justified, covering"
        legacy = posixpath.join(posixpath.dirname(attachment.file.name), "lab-result-pat.pdf")
        rename_to(attachment.file, legacy)
        store("messaging_attachment", "file", attachment.pk, legacy)

        migrate(latest())
    finally:
        migrate(latest())

    for table, column, pk, plain in [
        ("accounts_user", "email", world.clinician.pk, "doc@alpha.test"),
        ("scheduling_appointment", "reason", kept.pk, "Chest pain since Sunday"),
        ("scheduling_appointment", "cancel_reason", gone.pk, "Feeling better"),
        ("visits_visit", "provider_status", visit.pk, "Running 5 minutes late"),
        ("accounts_breakglassgrant", "reason", grant.pk, "Unresponsive at home"),
        ("accounts_breakglassgrant", "review_note", grant.pk, "Justified, covering"),
    ]:
        raw = stored(table, column, pk)
        assert raw.startswith("gAAAA") and plain not in raw, (table, column)
    assert stored("accounts_user", "email_index", world.clinician.pk) == email_index(
        "doc@alpha.test"
    )
    assert User.objects.get_by_natural_key("DOC@alpha.test") == world.clinician
    assert Appointment.objects.get(pk=kept.pk).reason == "Chest pain since Sunday"
    assert Visit.objects.get(pk=visit.pk).provider_status == "Running 5 minutes late"
    assert BreakGlassGrant.objects.get(pk=grant.pk).review_note == "Justified, covering"

    moved = Attachment.objects.get(pk=attachment.pk)
    assert RANDOM_NAME.fullmatch(posixpath.basename(moved.file.name))
    assert posixpath.dirname(moved.file.name) == posixpath.dirname(legacy)
    assert moved.file.read() == PDF and moved.name == "lab-result.pdf"
    assert not os.path.exists(moved.file.storage.path(legacy))
    # The audit migration changes no event: the chain written before it still verifies.
    assert verify_chain() is None


@pytest.mark.django_db(transaction=True)
def test_insurance_card_files_get_random_names(client, world, media):
    from tests.conftest import sign_in

    sign_in(client, world.patient.user)
    client.post(
        "/intake/insurance/",
        {
            "payer": "Blue Cross",
            "member_id": "XYZ123456",
            "subscriber_name": "Pat Alpha",
            "relationship": "self",
            "front": SimpleUploadedFile("pat-alpha-card.png", PNG, "image/png"),
        },
    )
    card = InsuranceCard.objects.get()
    assert RANDOM_NAME.fullmatch(posixpath.basename(card.front.name))
    try:
        migrate(BEFORE)
        legacy = posixpath.join(posixpath.dirname(card.front.name), "pat-alpha-card.png")
        rename_to(card.front, legacy)
        store("intake_insurancecard", "front", card.pk, legacy)
        migrate(latest())
    finally:
        migrate(latest())
    card = InsuranceCard.objects.get()
    assert card.front.name != legacy and RANDOM_NAME.fullmatch(posixpath.basename(card.front.name))
    assert card.front.read() == PNG


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
