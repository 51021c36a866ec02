"""Distinct canary strings go in through every encrypted field (found by walking the model
registry, so a new one is covered without anyone adding it here) and through the pages and the
API; then a dump of the whole test database and the storage folder (paths and bytes) must not
contain any of them."""

import datetime as dt
import os
import secrets
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import services as billing_services
from telehealth.accounts.models import BreakGlassGrant
from telehealth.crypto.fields import EncryptedJSONField, encrypted_fields
from tests.conftest import PASSWORD, World, make_patient, sign_in
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data
from visits import services as visit_services
from visits.models import EConsult, GroupSession, Visit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Canaries:
    """Distinct lowercase markers (emails are lowercased on the way in), remembered by where
    they were written."""

    def __init__(self) -> None:
        self.written: dict[str, str] = {}

    def __call__(self, where: str) -> str:
        value = f"canary{len(self.written):03d}x{secrets.token_hex(4)}"
        self.written[value] = where
        return value


def _stand_in(field: models.Field) -> Any:
    """A value for a required field of a row the scenario did not create."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, EncryptedJSONField | models.JSONField):
        return {}
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.localdate()
    if isinstance(field, models.DurationField):
        return dt.timedelta(minutes=1)
    if isinstance(field, models.TimeField):
        return dt.time(9)
    if isinstance(field, models.DecimalField | models.FloatField | models.IntegerField):
        return 1
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.GenericIPAddressField):
        return "192.0.2.1"
    if isinstance(field, models.FileField):
        return "stand-in"
    return "x" * min(getattr(field, "max_length", None) or 8, 8)


def _row(model: type[models.Model]) -> models.Model:
    """An existing row of `model`, or one built from its required fields (related rows reused
    or built the same way)."""
    existing = model._default_manager.order_by("pk").first()
    if existing is not None:
        return existing
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.null or field.has_default():
            continue
        if field.is_relation:
            related = field.related_model
            assert isinstance(related, type)  # resolved from "self" or a label by now
            values[field.name] = _row(related)
        elif not field.blank:
            values[field.name] = _stand_in(field)
    try:
        with transaction.atomic():
            return model._default_manager.create(**values)
    except Exception as exc:  # noqa: BLE001 - reported with the model to fix
        pytest.fail(
            f"No {model._meta.label} row to carry a canary, and building one from its required "
            f"fields failed ({exc}): create one in this test's scenario."
        )


def write_through_every_encrypted_field(canary: Canaries) -> None:
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = encrypted_fields(model)
        if not fields:
            continue
        row = _row(model)
        changes: dict[str, Any] = {}
        for field in fields:
            value = canary(f"{model._meta.label}.{field.name}")
            changes[field.name] = (
                {"canary": value} if isinstance(field, EncryptedJSONField) else value
            )
        model._default_manager.filter(pk=row.pk).update(**changes)


def write_through_pages_and_api(world: World, video_type: Any, canary: Canaries) -> None:
    client = Client()
    # Booking page: a new patient's email and the reason for the visit.
    booked = client.post(
        reverse("scheduling:book-details", args=[world.practice.slug]),
        booking_data(
            video_type,
            local(3, 10),
            email=f"{canary('booking page: email')}@example.test",
            reason=canary("booking page: reason"),
        ),
    )
    assert booked.status_code == 302, booked.content

    # A portal login under a canary email; one successful and two failed sign-ins.
    person = make_patient(
        world.practice, "Canary Person", f"{canary('portal login: email')}@example.test"
    )
    login = reverse("accounts:login")
    unknown = f"{canary('failed sign-in: unknown email')}@example.test"
    assert Client().post(login, {"username": unknown, "password": "wrong"}).status_code == 200
    wrong = Client().post(login, {"username": person.user.email, "password": "wrong"})
    assert wrong.status_code == 200
    assert (
        Client().post(login, {"username": person.user.email, "password": PASSWORD}).status_code
        == 302
    )

    # API: book with a reason, book again and cancel with a reason.
    sign_in(client, world.patient.user)
    api = "/api/v1/scheduling/appointments"
    body = {
        "patient_id": world.patient.pk,
        "provider_id": world.clinician.provider.pk,
        "appointment_type_id": video_type.pk,
    }
    kept = client.post(
        api,
        {**body, "start": local(4, 10).isoformat(), "reason": canary("API booking: reason")},
        content_type="application/json",
    )
    assert kept.status_code == 201, kept.json()
    gone = client.post(
        api, {**body, "start": local(4, 11).isoformat()}, content_type="application/json"
    )
    cancelled = client.post(
        f"{api}/{gone.json()['id']}/cancel",
        {"reason": canary("API cancel: reason")},
        content_type="application/json",
    )
    assert cancelled.status_code == 200, cancelled.json()

    # Pages: the clinician's status shown to a waiting patient.
    sign_in(client, world.clinician)
    status = client.post(
        reverse("visits:provider-status", args=[kept.json()["id"]]),
        {"status": canary("provider status page")},
    )
    assert status.status_code == 302

    # Billing: the periodic pull builds an encounter from the ended visit (diagnoses follow).
    visit = Visit.objects.get(appointment_id=kept.json()["id"])
    Visit.objects.filter(pk=visit.pk).update(started_at=timezone.now())  # it took place
    visit.refresh_from_db()
    visit_services.end(visit=visit, by=world.clinician)
    assert billing_services.pull_completed_visits().built == 1

    # Pages: emergency access and its review.
    sign_in(client, world.other_clinician)
    opened = client.post(
        reverse("accounts:break-glass", args=[world.patient.pk]),
        {"reason": f"Unresponsive {canary('break-glass page: reason')}", "confirm": "on"},
    )
    assert opened.status_code == 302
    sign_in(client, world.admin)
    grant = BreakGlassGrant.objects.get()
    reviewed = client.post(
        reverse("accounts:break-glass-review", args=[grant.pk]),
        {"note": canary("break-glass review page: note")},
    )
    assert reviewed.status_code in (200, 302)

    # Admin: a practice admin adds a staff account (the admin's change log names the object).
    sign_in(client, world.admin)
    added = client.post(
        "/admin/accounts/user/add/",
        {
            "email": f"{canary('admin add user: email')}@example.test",
            "full_name": "New Desk",
            "role": "front_desk",
            "password1": "a long unusual passphrase 42",
            "password2": "a long unusual passphrase 42",
            "usable_password": "true",
        },
    )
    assert added.status_code == 302, added.content

    # Uploads whose original names are canaries.
    sign_in(client, world.patient.user)
    thread = client.post(
        reverse("messaging:new"),
        {
            "subject": "Photo",
            "body": "See photo",
            "category": "clinical",
            "attachments": [
                SimpleUploadedFile(
                    f"{canary('message attachment: file name')}.png", PNG, "image/png"
                )
            ],
        },
    )
    assert thread.status_code == 302, thread.content
    card = client.post(
        "/intake/insurance/",
        {
            "payer": "Blue Cross",
            "member_id": "XYZ123456",
            "subscriber_name": "Pat Alpha",
            "relationship": "self",
            "front": SimpleUploadedFile(
                f"{canary('insurance card: file name')}.png", PNG, "image/png"
            ),
        },
    )
    assert card.status_code == 302

    # A document shared from the chart: its title, comment, file name and bytes.
    sign_in(client, world.clinician)
    shared = client.post(
        reverse("documents:share", args=[world.patient.pk]),
        {
            "kind": "lab_result",
            "title": canary("shared document: title"),
            "comment": canary("shared document: comment"),
            "file": SimpleUploadedFile(
                f"{canary('shared document: file name')}.pdf",
                f"%PDF-1.4 {canary('shared document: bytes')}".encode(),
                "application/pdf",
            ),
        },
    )
    assert shared.status_code == 302, shared.content


def _pg_dump() -> str:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_dump"), key=lambda p: int(p.split("/")[4]))
    binary = found[-1] if found else shutil.which("pg_dump") or "/usr/bin/pg_dump"
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    command = [binary, "--no-owner", "-h", db.get("HOST") or "127.0.0.1"]
    command += ["-p", str(db.get("PORT") or 5432), "-U", db.get("USER") or "postgres", db["NAME"]]
    return subprocess.run(command, env=env, check=True, capture_output=True).stdout.decode()


def _sqlite_bytes() -> bytes:
    name = str(connection.settings_dict["NAME"])
    if os.path.exists(name):
        return b"".join(Path(p).read_bytes() for p in (name, f"{name}-wal") if os.path.exists(p))
    raw = connection.connection
    assert isinstance(raw, sqlite3.Connection)
    return raw.serialize()  # the in-memory test database, page by page


def database_dump() -> str:
    if connection.vendor == "postgresql":
        return _pg_dump()
    return _sqlite_bytes().decode("latin-1")


def storage_dump(root: Path) -> Iterator[tuple[str, str]]:
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            yield f"path {path.relative_to(root)}", str(path.relative_to(root))
            yield f"bytes of {path.relative_to(root)}", path.read_bytes().decode("latin-1")


@pytest.mark.django_db(transaction=True)
def test_no_canary_reaches_the_database_or_the_storage_folder(
    settings, tmp_path, world, video_type
):
    settings.MEDIA_ROOT = tmp_path / "media"
    canary = Canaries()
    write_through_pages_and_api(world, video_type, canary)
    # An e-consult goes between two clinicians (a row built from its required fields would name
    # one user twice, which its constraint refuses); its encrypted fields get canaries below.
    EConsult.objects.create(
        practice=world.practice,
        patient=world.patient,
        requester=world.clinician,
        specialist=world.other_clinician,
        specialty="Cardiology",
        question="stand-in",
        patient_consent_at=timezone.now(),
    )
    # A group session ends after it starts (a constraint); its room's pin and secret are
    # encrypted fields and get canaries below (its title too).
    GroupSession.objects.create(
        practice=world.practice,
        title="Group",
        host=world.clinician,
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(hours=1),
        capacity=8,
        created_by=world.clinician,
    )
    write_through_every_encrypted_field(canary)
    assert {
        "accounts.User.email",
        "accounts.BreakGlassGrant.reason",
        "accounts.BreakGlassGrant.review_note",
        "scheduling.Appointment.reason",
        "scheduling.Appointment.cancel_reason",
        "visits.Visit.provider_status",
        "visits.GroupSession.room_secret",
        "visits.GroupSession.title",
        "billing.EncounterDiagnosis.code",
        "billing.EncounterDiagnosis.description",
    } <= set(canary.written.values())

    dump = database_dump().lower()
    # Names stay plain by design: seeing one proves the dump holds this test's rows.
    assert "canary person" in dump
    haystacks = [("database dump", dump)]
    haystacks += [(where, text.lower()) for where, text in storage_dump(settings.MEDIA_ROOT)]
    found = sorted(
        f"{value} ({origin}) in {where}"
        for value, origin in canary.written.items()
        for where, text in haystacks
        if value in text
    )
    print(f"canaries written: {len(canary.written)}, found: {len(found)}")
    assert not found, "\n".join(found)
