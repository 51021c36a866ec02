"""Settings: every configuration a practice admin may change is linked from their home page,
and no Settings form answers 500 to a bad or duplicate value. Built from
`admin.site._registry`, so a new practice-scoped admin is covered without an entry here; it
needs a row in `settings_rows` (the test says which)."""

import json
from datetime import date, time
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from jwcrypto.jwk import JWK

from billing.models import BillingProfile, FeeScheduleEntry, Payer
from messaging.models import MessagingSettings, Rule, SavedReply, Team
from rpm.models import Threshold
from scheduling.models import (
    AppointmentType,
    AvailabilityException,
    AvailabilityRule,
    Modality,
    ReminderRule,
)
from telehealth.accounts.admin import PracticeScopedAdmin
from telehealth.accounts.models import Practice, Provider, Role, User
from telehealth.accounts.practice_scope import practice_path
from telehealth.accounts.services import PRACTICE_ADMIN_PERMISSIONS
from telehealth.ehr.models import EhrServer
from telehealth.notify.models import MessageTemplate
from telehealth.smart.models import SmartClient
from telehealth.smart.services import smart_client_register
from tests.conftest import PASSWORD, World, make_staff, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


PRACTICE_SETTINGS: list[type[Model]] = sorted(
    (
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, PracticeScopedAdmin)
    ),
    key=lambda model: model._meta.label,
)


def label(model: type[Model]) -> str:
    return model._meta.label


def admin_url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


WORDING = {"key": "appointment.reminder", "channel": "sms", "language": "en", "subject": ""}


@pytest.fixture
def settings_rows(world: World) -> dict[type[Model], Model]:
    """One row of the admin's practice for every practice-scoped admin."""
    practice = world.practice
    provider = world.clinician.provider
    kind = AppointmentType.objects.create(
        practice=practice, name="Checkup", slug="checkup", modality=Modality.VIDEO
    )
    kind.providers.add(provider)
    return {
        Practice: practice,
        User: world.front_desk,
        Provider: provider,
        AppointmentType: kind,
        AvailabilityRule: AvailabilityRule.objects.create(
            provider=provider, weekday=0, start_time=time(9), end_time=time(12)
        ),
        AvailabilityException: AvailabilityException.objects.create(
            provider=provider, date=date(2030, 1, 7), kind="unavailable"
        ),
        ReminderRule: ReminderRule.objects.create(
            practice=practice, minutes_before=48 * 60, channel="sms"
        ),
        MessageTemplate: MessageTemplate.objects.create(
            practice=practice, body="{practice_name}: see you {start_local}.", **WORDING
        ),
        Team: Team.objects.create(practice=practice, name="Nurses"),
        SavedReply: SavedReply.objects.create(practice=practice, title="Hi", body="Hello."),
        Rule: Rule.objects.create(practice=practice, name="Refills", keywords=["refill"]),
        MessagingSettings: MessagingSettings.objects.create(practice=practice),
        Threshold: Threshold.objects.create(
            practice=practice, vital="systolic", op="gt", value=180, severity="critical"
        ),
        BillingProfile: BillingProfile.objects.create(
            practice=practice,
            billing_name="Alpha Health PC",
            group_npi="1234567893",
            ein="123456789",
            taxonomy="207Q00000X",
            address_line="1 Main St",
            city="Boston",
            state="MA",
            zip_code="021101234",
            submitter_id="ALPHA",
            submitter_contact="Billing desk",
            submitter_phone="6175550100",
            receiver_name="Clearinghouse",
            receiver_id="CLEARING",
        ),
        Payer: Payer.objects.create(
            practice=practice, name="Acme Health", payer_id="ACME1", profile_kind="commercial"
        ),
        FeeScheduleEntry: FeeScheduleEntry.objects.create(
            practice=practice, code="99213", charge=110, effective_from=date(2026, 1, 1)
        ),
        SmartClient: smart_client_register(
            client=SmartClient(
                practice=practice,
                name="Regional EHR",
                jwks={
                    "keys": [
                        json.loads(JWK.generate(kty="EC", crv="P-384", kid="k").export_public())
                    ]
                },
                scopes="system/*.rs",
            ),
            by=None,
        ),
        EhrServer: EhrServer.objects.create(
            practice=practice, name="Epic", iss="https://ehr.example.org/fhir", client_id="app"
        ),
    }


@pytest.fixture
def practice_admin(client: Client, world: World) -> Client:
    return sign_in(client, world.admin)


def test_practice_settings_are_the_practice_scoped_admins():
    for model in PRACTICE_SETTINGS:
        practice_path(model)  # raises for a model that belongs to no practice
    assert MessageTemplate in PRACTICE_SETTINGS


@pytest.mark.parametrize("model", PRACTICE_SETTINGS, ids=label)
def test_settings_home_links_to_every_practice_configuration(practice_admin, model):
    page = practice_admin.get(reverse("home"))
    assert page.status_code == 200
    assert admin_url(model, "changelist") in page.content.decode(), (
        f"The Settings home does not link to {label(model)}'s settings."
    )


@pytest.mark.parametrize("model", PRACTICE_SETTINGS, ids=label)
def test_practice_admin_can_open_every_linked_configuration(practice_admin, model):
    assert practice_admin.get(admin_url(model, "changelist")).status_code == 200


def test_settings_home_no_longer_promises_what_is_already_there(practice_admin):
    assert "will be configured here" not in practice_admin.get(reverse("home")).content.decode()


def wording_post(**fields: str) -> dict[str, str]:
    return {**WORDING, "body": "{practice_name}: see you {start_local}.", **fields}


def test_wording_with_an_unknown_token_gets_the_form_back_with_the_reason(practice_admin):
    response = practice_admin.post(
        admin_url(MessageTemplate, "add"), wording_post(body="Hi {patient_ssn}")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "Unknown merge tokens: {patient_ssn}" in " ".join(errors["body"])
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    "body",
    ["Hi {practice_name!x}", "Hi {practice_name:d}", "Hi {practice_name", "Hi {0}", "Hi {}"],
)
def test_malformed_wording_gets_a_field_error(practice_admin, body):
    response = practice_admin.post(admin_url(MessageTemplate, "add"), wording_post(body=body))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["body"]
    assert not MessageTemplate.objects.exists()


def test_wording_that_already_exists_gets_a_form_error(practice_admin, world):
    MessageTemplate.objects.create(practice=world.practice, body="Old.", **WORDING)
    response = practice_admin.post(admin_url(MessageTemplate, "add"), wording_post())
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["adminform"].form.non_field_errors())
    assert MessageTemplate.objects.count() == 1


def test_the_same_wording_in_another_practice_is_no_duplicate(practice_admin, world):
    MessageTemplate.objects.create(practice=world.outside_practice, body="Theirs.", **WORDING)
    response = practice_admin.post(admin_url(MessageTemplate, "add"), wording_post())
    assert response.status_code == 302
    assert MessageTemplate.objects.filter(practice=world.practice).count() == 1


def posted_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, (list, tuple)):
        return [str(getattr(item, "pk", item)) for item in value]
    return str(getattr(value, "pk", value))


def copy_of(client: Client, model: type[Model], row: Model) -> dict[str, Any]:
    """The values the change form shows for `row`, as a browser would post them."""
    page = client.get(admin_url(model, "change", row.pk))
    assert page.status_code == 200, label(model)
    form = page.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        field = form[name]
        value = field.field.prepare_value(field.value())
        if isinstance(value, bool) and not value:
            continue
        data[name] = posted_value(value)
    return data


@pytest.mark.parametrize("model", PRACTICE_SETTINGS, ids=label)
def test_posting_a_duplicate_to_a_settings_form_never_answers_500(
    world, settings_rows, model, client
):
    if model not in settings_rows:
        pytest.fail(f"Build a row of {label(model)} in settings_rows so its form is checked.")
    # The admin may hold every permission: no form may fail on a duplicate however reached.
    world.admin.user_permissions.set(Permission.objects.all())
    client.raise_request_exception = False
    sign_in(client, world.admin)
    data = copy_of(client, model, settings_rows[model])
    data.update({"password1": PASSWORD, "password2": PASSWORD})
    before = model._default_manager.count()
    response = client.post(admin_url(model, "add"), data)
    assert response.status_code in (200, 302, 403), (label(model), response.status_code)
    if response.status_code == 200:
        assert response.context["adminform"].form.errors, label(model)
        assert model._default_manager.count() == before


GRANTING_MIGRATION = "telehealth.accounts.migrations.0006_practice_admin_messaging_and_monitoring"


def test_existing_practice_admins_get_the_newly_linked_settings(world, client):
    migration = import_module(
        "telehealth.accounts.migrations.0006_practice_admin_messaging_and_monitoring"
    )
    world.admin.user_permissions.remove(
        *world.admin.user_permissions.filter(content_type__app_label__in=["messaging", "rpm"])
    )
    assert sign_in(client, world.admin).get(admin_url(Team, "changelist")).status_code == 403
    # The step reads only the editor's connection; SQLite opens no schema editor in a test.
    migration.grant(apps, SimpleNamespace(connection=connection))
    assert client.get(admin_url(Team, "changelist")).status_code == 200
    assert client.get(admin_url(Threshold, "changelist")).status_code == 200


def test_existing_practice_admins_get_ehr_registrations_even_before_its_permissions_exist(
    world, client
):
    migration = import_module("telehealth.ehr.migrations.0002_practice_admin_ehr_settings")
    Permission.objects.filter(content_type__app_label="ehr").delete()  # as after migrate
    assert sign_in(client, world.admin).get(admin_url(EhrServer, "add")).status_code == 403
    migration.grant(apps, SimpleNamespace(connection=connection))
    assert client.get(admin_url(EhrServer, "add")).status_code == 200


def test_existing_practice_admins_get_billings_settings_even_before_its_permissions_exist(
    world, client
):
    migration = import_module("billing.migrations.0003_practice_admin_billing_settings")
    Permission.objects.filter(content_type__app_label="billing").delete()  # as after migrate
    assert sign_in(client, world.admin).get(admin_url(Payer, "changelist")).status_code == 403
    migration.grant(apps, SimpleNamespace(connection=connection))
    for model in (BillingProfile, Payer, FeeScheduleEntry):
        assert client.get(admin_url(model, "changelist")).status_code == 200, label(model)


def test_a_new_practice_admin_holds_exactly_the_listed_permissions(world):
    """Each (app, model, actions) entry of the list, and nothing else: a permission of the same
    codename in another app (say, an app that reuses a model name) is not granted with it."""
    listed = {
        (app_label, f"{action}_{model}")
        for app_label, model, actions in PRACTICE_ADMIN_PERMISSIONS
        for action in actions
    }
    Permission.objects.create(
        name="Can view team, another app's",
        codename="view_team",
        content_type=ContentType.objects.get_for_model(EhrServer),
    )
    admin_user = make_staff(world.practice, Role.PRACTICE_ADMIN, "admin2@alpha.test", "Admin 2")
    held = set(admin_user.user_permissions.values_list("content_type__app_label", "codename"))
    assert held == listed
    assert ("messaging", "view_team") in held
