"""Tenant isolation in the Django admin, built from `admin.site._registry`.

A practice admin holding every model permission signs in. For each admin open to them (the
practice-scoped ones), every relational form field (foreign key, many-to-many, raw id) must
offer only their practice's objects, a posted foreign id must be refused, no page may echo
another practice's names or emails, and every list filter must offer only their practice's
objects. Every other admin must refuse them outright. A new admin is covered without an
entry here; a new related model needs a builder in `two_practices` (the test says which)."""

from dataclasses import dataclass, field
from datetime import time
from typing import cast

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db.models import Model
from django.test import RequestFactory
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from messaging.models import Team
from scheduling.models import AppointmentType, AvailabilityRule, Modality
from telehealth.accounts.admin import PracticeScopedAdmin, SuperuserOnlyAdmin
from telehealth.accounts.models import Patient, Practice, Provider, User
from telehealth.accounts.practice_scope import practice_path
from tests.conftest import PASSWORD, World, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


REGISTRY: list[tuple[type[Model], admin.ModelAdmin]] = sorted(
    admin.site._registry.items(), key=lambda item: item[0]._meta.label
)
SCOPED = [model for model, model_admin in REGISTRY if isinstance(model_admin, PracticeScopedAdmin)]
UNSCOPED = [model for model in dict(REGISTRY) if model not in SCOPED]


def label(model: type[Model]) -> str:
    return model._meta.label


def admin_url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@dataclass
class TwoPractices:
    world: World
    # model -> (objects of practice Alpha, objects of practice Beta)
    objects: dict[type[Model], tuple[list[Model], list[Model]]] = field(default_factory=dict)

    def own(self, model: type[Model]) -> list[Model]:
        return self.objects[model][0]

    def foreign(self, model: type[Model]) -> list[Model]:
        if model not in self.objects:
            pytest.fail(
                f"An admin relates to {label(model)}: build one in each practice in "
                "two_practices so its isolation is checked."
            )
        return self.objects[model][1]

    def foreign_markers(self) -> set[str]:
        """Every text by which Beta's objects could be recognised on a page."""
        markers = set()
        for _own, foreign in self.objects.values():
            for obj in foreign:
                markers.add(str(obj))
                for attr in ("email", "full_name", "display_name", "legal_name", "name"):
                    value = getattr(obj, attr, "")
                    if isinstance(value, str) and len(value) >= 4:
                        markers.add(value)
        return markers


def make_provider(user: User, slug: str, npi: str) -> Provider:
    assert user.practice is not None
    return Provider.objects.create(
        user=user,
        practice=user.practice,
        slug=slug,
        display_name=user.full_name,
        npi=npi,
        licensed_states=["MA"],
        time_zone="America/New_York",
    )


def make_visit_type(practice: Practice, provider: Provider, name: str) -> AppointmentType:
    kind = AppointmentType.objects.create(
        practice=practice, name=name, slug=name.lower(), modality=Modality.VIDEO
    )
    kind.providers.add(provider)
    AvailabilityRule.objects.create(
        provider=provider, weekday=0, start_time=time(9), end_time=time(12)
    )
    return kind


@pytest.fixture
def two_practices(world) -> TwoPractices:
    alpha, beta = world.practice, world.outside_practice
    second = make_provider(world.other_clinician, "second", "1245319599")
    outside = make_provider(world.outside_clinician, "beta", "1987654328")
    # The admin may hold every permission: isolation must not rest on missing permissions.
    world.admin.user_permissions.set(Permission.objects.all())
    return TwoPractices(
        world=world,
        objects={
            Practice: ([alpha], [beta]),
            User: (
                [world.clinician, world.other_clinician, world.front_desk, world.admin],
                [world.outside_clinician, world.outside_patient.user],
            ),
            Provider: ([world.clinician.provider, second], [outside]),
            Patient: ([world.patient, world.other_patient], [world.outside_patient]),
            Team: (
                [Team.objects.create(practice=alpha, name="Alpha nurses")],
                [Team.objects.create(practice=beta, name="Beta nurses")],
            ),
            AppointmentType: (
                [make_visit_type(alpha, world.clinician.provider, "Alphavisit")],
                [make_visit_type(beta, outside, "Betavisit")],
            ),
        },
    )


def relational_fields(form: forms.BaseForm) -> dict[str, forms.ModelChoiceField]:
    return {
        name: formfield
        for name, formfield in form.fields.items()
        if isinstance(formfield, forms.ModelChoiceField)
    }


def key(formfield: forms.ModelChoiceField, obj: Model) -> str:
    return str(getattr(obj, formfield.to_field_name or "pk"))


def refuses(formfield: forms.ModelChoiceField, value: str) -> bool:
    multiple = isinstance(formfield, forms.ModelMultipleChoiceField)
    try:
        formfield.clean([value] if multiple else value)
    except ValidationError as error:
        return error.code == "invalid_choice"
    return False


def echoes(content: str, markers: set[str]) -> list[str]:
    return sorted(marker for marker in markers if marker in content)


def form_leaks(client, two: TwoPractices, url: str) -> list[str]:
    """Leaks of one add or change form: offered choices, accepted posts and echoed labels."""
    page = client.get(url)
    if page.status_code == 403:
        return []
    assert page.status_code == 200, url
    markers = two.foreign_markers()
    leaks = [f"{url} shows {m!r}" for m in echoes(page.content.decode(), markers)]
    fields = relational_fields(page.context["adminform"].form)
    foreign_ids: dict[str, str] = {}
    for name, formfield in fields.items():
        assert formfield.queryset is not None
        model = formfield.queryset.model
        offered = set(formfield.queryset)
        foreign = set(two.foreign(model))
        own = set(two.own(model))
        leaks += [f"{url} {name} offers {obj!r}" for obj in offered & foreign]
        if not offered & own:
            leaks.append(f"{url} {name} offers none of its own practice's {label(model)}")
        leaks += [
            f"{url} {name} accepts {obj!r}"
            for obj in foreign
            if not refuses(formfield, key(formfield, obj))
        ]
        foreign_id = key(formfield, two.foreign(model)[0])
        foreign_ids[name] = foreign_id
        # The raw-id and select widgets render a preset value with its label.
        preset = client.get(url, {name: foreign_id}).content.decode()
        leaks += [f"{url}?{name}={foreign_id} shows {m!r}" for m in echoes(preset, markers)]
    if not fields:
        return leaks
    posted = client.post(url, foreign_ids)
    if posted.status_code != 200:
        return [*leaks, f"{url} saved foreign ids {foreign_ids}"]
    leaks += [f"{url} (posted) shows {m!r}" for m in echoes(posted.content.decode(), markers)]
    return leaks


def filter_leaks(client, two: TwoPractices, model: type[Model]) -> list[str]:
    url = admin_url(model, "changelist")
    page = client.get(url)
    assert page.status_code == 200, url
    markers = two.foreign_markers()
    leaks = [f"{url} shows {m!r}" for m in echoes(page.content.decode(), markers)]
    changelist = page.context["cl"]
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if str(choice["display"]) in markers:
                leaks.append(f"{url} filter {spec.title!r} offers {choice['display']!r}")
        if isinstance(spec, RelatedFieldListFilter):
            offered = {str(choice["display"]) for choice in spec.choices(changelist)}
            related = cast(type[Model], spec.field.related_model)
            if not offered & {str(obj) for obj in two.own(related)}:
                leaks.append(f"{url} filter {spec.title!r} offers none of its own practice")
    return leaks


def admin_request(user: User):
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=user.pk)
    return request


@pytest.mark.parametrize("model", SCOPED, ids=label)
def test_practice_admin_is_offered_and_accepts_only_own_practice_objects(
    client, two_practices, model
):
    practice_admin = two_practices.world.admin
    sign_in(client, practice_admin)
    leaks = filter_leaks(client, two_practices, model)
    leaks += form_leaks(client, two_practices, admin_url(model, "add"))
    model_admin = admin.site.get_model_admin(model)
    own_row = model_admin.get_queryset(admin_request(practice_admin)).first()
    if own_row is not None:
        leaks += form_leaks(client, two_practices, admin_url(model, "change", own_row.pk))
    assert leaks == [], "\n".join(leaks)


@pytest.fixture
def superuser(db) -> User:
    user = User.objects.create_superuser("root@platform.test", PASSWORD, full_name="Root")
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.mark.parametrize("model", UNSCOPED, ids=label)
def test_admin_without_practice_scope_is_for_superusers_only(
    client, two_practices, superuser, model
):
    sign_in(client, two_practices.world.admin)
    assert client.get(admin_url(model, "changelist")).status_code == 403
    assert client.get(admin_url(model, "add")).status_code == 403
    assert admin_url(model, "changelist") not in client.get("/admin/").content.decode()
    sign_in(client, superuser)
    assert client.get(admin_url(model, "changelist")).status_code == 200


def test_every_admin_is_practice_scoped_or_superuser_only():
    kinds = (PracticeScopedAdmin, SuperuserOnlyAdmin)
    assert [
        label(model) for model, model_admin in REGISTRY if not isinstance(model_admin, kinds)
    ] == []


def test_anonymous_visitor_gets_the_admin_login_page(client, db):
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_superuser_is_offered_every_practices_objects(client, two_practices, superuser):
    sign_in(client, superuser)
    form = client.get(admin_url(Provider, "add")).context["adminform"].form
    assert set(two_practices.foreign(User)) <= set(form.fields["user"].queryset)
    assert set(form.fields["practice"].queryset) == {
        two_practices.world.practice,
        two_practices.world.outside_practice,
    }


def test_practice_path_follows_foreign_keys_to_the_practice():
    assert practice_path(Practice) == "pk"
    assert practice_path(Provider) == "practice"
    assert practice_path(AvailabilityRule) == "provider__practice"


def test_a_model_with_no_way_to_a_practice_cannot_be_scoped():
    with pytest.raises(ImproperlyConfigured):
        practice_path(Group)


class EveryFilterKindAdmin(PracticeScopedAdmin):
    list_filter = [
        "provider",
        ("provider", RelatedOnlyFieldListFilter),
        ("provider", RelatedFieldListFilter),
        "provider__specialty",
        "provider__user__practice",
    ]


def test_every_kind_of_relational_list_filter_offers_only_own_practice_options(two_practices):
    world = two_practices.world
    Provider.objects.filter(practice=world.practice).update(specialty="Cardiology")
    Provider.objects.filter(practice=world.outside_practice).update(specialty="Dermatology")
    model_admin = EveryFilterKindAdmin(AvailabilityRule, admin.AdminSite("isolation"))
    changelist = model_admin.get_changelist_instance(admin_request(world.admin))
    offered = {
        str(choice["display"])
        for spec in changelist.filter_specs
        for choice in spec.choices(changelist)
    }
    assert {"Dr Alpha", "Cardiology", "Alpha Health"} <= offered
    assert offered.isdisjoint({"Dr Beta", "Dermatology", "Beta Clinic"})


def test_a_custom_related_filter_that_is_not_confined_is_refused(two_practices):
    class EveryProvider(RelatedFieldListFilter):
        pass

    class CustomFilterAdmin(PracticeScopedAdmin):
        list_filter = [("provider", EveryProvider)]

    model_admin = CustomFilterAdmin(AvailabilityRule, admin.AdminSite("isolation"))
    with pytest.raises(ImproperlyConfigured):
        model_admin.get_changelist_instance(admin_request(two_practices.world.admin))


def test_a_typed_id_that_is_not_a_number_gets_the_form_back(client, two_practices):
    sign_in(client, two_practices.world.admin)
    assert client.get(admin_url(Provider, "add"), {"user": "x"}).status_code == 200
