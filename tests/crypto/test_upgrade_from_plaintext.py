"""An upgrade from before PHI was encrypted, made once for the module's tests: rows written
before the data migrations are encrypted and indexed, stored files renamed, the plaintext
emails those releases left outside the users table removed, and the way back decrypts (so rows
written by today's code survive a rollback of the release). The migrations themselves are
tested one by one in test_encrypting_migrations.py."""

import os
import posixpath
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, models
from django.test import Client, override_settings
from django.utils import timezone

from intake.models import InsuranceCard
from messaging import services as messaging
from messaging.models import Attachment
from scheduling import services as scheduling
from scheduling.models import Appointment, AppointmentType, BookedVia
from telehealth.accounts import services as accounts
from telehealth.accounts.models import BreakGlassGrant, Practice, User, email_index
from telehealth.audit.services import verify_chain
from telehealth.crypto.storage import RANDOM_NAME
from tests.conftest import World, make_video_type, sign_in
from tests.crypto.migrating import latest, migrate, store, stored
from tests.scheduling.conftest import local
from visits import services as visits
from visits.models import Visit

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EMAIL = "doc@alpha.test"

BEFORE = [
    ("accounts", "0001_initial"),
    ("scheduling", "0003_reminderrule"),
    ("visits", "0002_media_and_summary"),
    ("audit", "0004_chains_and_subjects"),  # below it, events lose their chain and version
    ("intake", "0003_one_open_response"),
    ("messaging", "0001_initial"),
]


def write_records(world: World, video_type: AppointmentType) -> dict:
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


def upload_insurance_card(world: World) -> InsuranceCard:
    client = sign_in(Client(), world.patient.user)
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
    return InsuranceCard.objects.get()


def rename_to(field_file, legacy: str) -> None:
    """Put a stored file back under a name of the kind uploads used to get."""
    os.makedirs(os.path.dirname(field_file.storage.path(legacy)), exist_ok=True)
    os.replace(field_file.path, field_file.storage.path(legacy))


@dataclass
class Upgraded:
    """What the tests of one upgrade from BEFORE look at: the rows and files written by
    today's code, what the way back left in the database, and the legacy file names."""

    world: World
    records: dict
    card: InsuranceCard
    card_name_at_upload: str
    emails: dict[str, LogEntry]
    way_back: dict[tuple[str, str, int], str] = field(default_factory=dict)
    legacy: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def upgraded(django_db_setup, django_db_blocker, tmp_path_factory):
    """One migration down to BEFORE and back up for the module's tests that upgrade a
    database (each cycle migrates most of the schema, about a minute of work): rows and files
    written by today's code, taken back to BEFORE, given what the releases before left
    behind, and upgraded. Its rows are committed for the module's tests (which only read
    them, each in its own transaction) and flushed after the last one, as a transactional
    test's would be."""
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")),
    ):
        try:
            world = World()
            records = write_records(world, make_video_type(world))
            card = upload_insurance_card(world)
            done = Upgraded(
                world=world,
                records=records,
                card=card,
                card_name_at_upload=card.front.name,
                emails={},
            )
            try:
                migrate(BEFORE)
                # The way back decrypts: the previous release reads plaintext.
                for table, column, pk in [
                    ("accounts_user", "email", world.clinician.pk),
                    ("scheduling_appointment", "reason", records["kept"].pk),
                    ("scheduling_appointment", "cancel_reason", records["gone"].pk),
                    ("visits_visit", "provider_status", records["visit"].pk),
                    ("accounts_breakglassgrant", "reason", records["grant"].pk),
                    ("accounts_breakglassgrant", "review_note", records["grant"].pk),
                ]:
                    done.way_back[table, column, pk] = stored(table, column, pk)
                attachment = records["message"].attachments.get()
                legacy = posixpath.join(
                    posixpath.dirname(attachment.file.name), "lab-result-pat.pdf"
                )
                rename_to(attachment.file, legacy)
                store("messaging_attachment", "file", attachment.pk, legacy)
                done.legacy["attachment"] = legacy
                legacy = posixpath.join(posixpath.dirname(card.front.name), "pat-alpha-card.png")
                rename_to(card.front, legacy)
                store("intake_insurancecard", "front", card.pk, legacy)
                done.legacy["card"] = legacy
                done.emails = old_email_rows(world)
                migrate(latest())
            finally:
                migrate(latest())
            yield done
        finally:
            call_command("flush", verbosity=0, interactive=False)


@pytest.mark.django_db
def test_rows_from_before_are_encrypted_indexed_and_files_renamed(upgraded):
    world, records = upgraded.world, upgraded.records
    kept, gone, visit, grant = records["kept"], records["gone"], records["visit"], records["grant"]
    attachment = records["message"].attachments.get()
    rows = [
        ("accounts_user", "email", world.clinician.pk, "doc@alpha.test"),
        ("scheduling_appointment", "reason", kept.pk, "Chest pain since Sunday"),
        ("scheduling_appointment", "cancel_reason", gone.pk, "Feeling better"),
        ("visits_visit", "provider_status", visit.pk, "Running 5 minutes late"),
        ("accounts_breakglassgrant", "reason", grant.pk, "Unresponsive at home"),
        ("accounts_breakglassgrant", "review_note", grant.pk, "Justified, covering"),
    ]
    # The way back decrypts: the previous release reads plaintext.
    for table, column, pk, plain in rows:
        assert upgraded.way_back[table, column, pk] == plain, (table, column)

    for table, column, pk, plain in rows:
        raw = stored(table, column, pk)
        assert raw.startswith("gAAAA") and plain not in raw, (table, column)
    assert stored("accounts_user", "email_index", world.clinician.pk) == email_index(
        "doc@alpha.test"
    )
    assert User.objects.get_by_natural_key("DOC@alpha.test") == world.clinician
    assert Appointment.objects.get(pk=kept.pk).reason == "Chest pain since Sunday"
    assert Visit.objects.get(pk=visit.pk).provider_status == "Running 5 minutes late"
    assert BreakGlassGrant.objects.get(pk=grant.pk).review_note == "Justified, covering"

    legacy = upgraded.legacy["attachment"]
    moved = Attachment.objects.get(pk=attachment.pk)
    assert RANDOM_NAME.fullmatch(posixpath.basename(moved.file.name))
    assert posixpath.dirname(moved.file.name) == posixpath.dirname(legacy)
    assert moved.file.read() == PDF and moved.name == "lab-result.pdf"
    assert not os.path.exists(moved.file.storage.path(legacy))
    # The audit migration changes no event: the chain written before it still verifies.
    assert verify_chain() is None


@pytest.mark.django_db
def test_insurance_card_files_get_random_names(upgraded):
    assert RANDOM_NAME.fullmatch(posixpath.basename(upgraded.card_name_at_upload))
    card = InsuranceCard.objects.get()
    legacy = upgraded.legacy["card"]
    assert card.front.name != legacy and RANDOM_NAME.fullmatch(posixpath.basename(card.front.name))
    assert card.front.read() == PNG


def text_in(model: type[models.Model]) -> list[str]:
    """Every text value stored in the model's table, read as stored."""
    columns = [
        f.column
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
    ]
    if not columns:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {model._meta.db_table}"  # noqa: S608
        )
        return [str(value) for row in cursor.fetchall() for value in row if value is not None]


def old_email_rows(world: World) -> dict[str, LogEntry]:
    """Rows of the kinds the releases before the email was encrypted wrote outside the users
    table (django-axes' and the admin's change log), each holding an email in plaintext."""
    now = timezone.now()
    where = {"ip_address": "203.0.113.7", "user_agent": "Browser", "attempt_time": now}
    AccessLog.objects.create(username=EMAIL, http_accept="*/*", path_info="/login/", **where)
    attempt = AccessAttempt.objects.create(
        username=EMAIL,
        http_accept="*/*",
        path_info="/login/",
        get_data="",
        post_data=f"username={EMAIL}",
        failures_since_start=5,
        **where,
    )
    AccessAttemptExpiration.objects.create(
        access_attempt=attempt, expires_at=now + timedelta(minutes=30)
    )
    AccessFailureLog.objects.create(username=EMAIL, locked_out=True, **where)

    def logged(obj: models.Model, object_id: object, text: str) -> LogEntry:
        return LogEntry.objects.create(
            user=world.admin,
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(object_id),
            object_repr=text,
            action_flag=CHANGE,
            change_message="[]",
        )

    return {
        "user": logged(world.clinician, world.clinician.pk, f"Dr Alpha <{EMAIL}>"),
        "deleted user": logged(world.clinician, 999_999, "Gone <gone@alpha.test>"),
        "practice": logged(world.practice, world.practice.pk, "Alpha Health"),
    }


@pytest.mark.django_db
def test_upgrade_removes_plaintext_emails_from_lockout_tables_and_admin_log(upgraded):
    """Databases from before the email was encrypted still held it in plaintext outside the
    users table: django-axes' rows (keyed by the email tried) and the admin's change log
    (whose text for a user included the email). The upgrade removes it from both."""
    world, entries = upgraded.world, upgraded.emails
    checked: list[type[models.Model]] = [*apps.get_app_config("axes").get_models(), LogEntry]
    for model in checked:
        for value in text_in(model):
            assert "@alpha.test" not in value, (model._meta.db_table, value)
    assert not AccessAttempt.objects.exists() and not AccessAttemptExpiration.objects.exists()

    def text_of(name: str) -> str:
        return LogEntry.objects.get(pk=entries[name].pk).object_repr

    clinician = User.objects.get(pk=world.clinician.pk)
    assert text_of("user") == str(clinician) == f"Dr Alpha (#{clinician.pk}, Clinician)"
    assert text_of("deleted user") == "user #999999"
    assert text_of("practice") == str(Practice.objects.get(pk=world.practice.pk))
