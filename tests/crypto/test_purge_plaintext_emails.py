"""Databases from before the email was encrypted still hold it in plaintext outside the users
table: django-axes' rows (keyed by the email tried) and the admin's change log (whose text for
a user included the email). The upgrade removes it from both."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone

from telehealth.accounts.models import Practice, User
from tests.conftest import World
from tests.migrating import latest, migrate

BEFORE = [("accounts", "0004_link_version")]
EMAIL = "doc@alpha.test"


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


def old_rows(world: World) -> dict[str, LogEntry]:
    """Rows of the kinds the release before wrote, each holding an email in plaintext."""
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


@pytest.mark.django_db(transaction=True)
def test_upgrade_removes_plaintext_emails_from_lockout_tables_and_admin_log(world: World):
    try:
        migrate(BEFORE)
        entries = old_rows(world)
        migrate(latest())
    finally:
        migrate(latest())

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
