"""Phone numbers are read in the practice's country, an extension is kept on the practice's
own line and refused on a number we text, and an email whose domain is written in Unicode
is the same person as its punycode spelling: stored, matched and unique as one."""

from datetime import date

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from messaging.forms import WebChatForm
from scheduling.forms import BookingDetailsForm
from telehealth.accounts import invitations, selectors, services
from telehealth.accounts.forms import UniqueEmailForm
from telehealth.accounts.models import Practice, Role, User, email_index
from telehealth.accounts.validation import canonical_email, normalise_email, normalise_phone
from telehealth.notify.inbound import practice_context
from tests.conftest import PASSWORD, make_staff, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


UK_MOBILE = "07911 123456"
BORN = date(1980, 1, 2)
UNICODE = "ana@bücher.example"
PUNYCODE = "ana@xn--bcher-kva.example"


@pytest.fixture
def london(db):
    return Practice.objects.create(
        name="Camden Clinic",
        slug="camden",
        time_zone="Europe/London",
        country="GB",
        phone="+442079460958",
    )


# --- Phones ---------------------------------------------------------------------------------


def test_a_number_without_country_code_is_read_in_the_practices_country(london, world):
    patient = services.patient_create(
        practice=london, legal_name="Ann Lewis", date_of_birth=BORN, phone=UK_MOBILE
    )
    assert patient.phone == "+447911123456"
    with pytest.raises(ValidationError):  # the same digits are no US number
        services.patient_create(
            practice=world.practice, legal_name="Ann Lewis", date_of_birth=BORN, phone=UK_MOBILE
        )
    again = selectors.returning_patient(practice=london, date_of_birth=BORN, phone=UK_MOBILE)
    assert again == patient


def test_the_booking_and_chat_forms_read_numbers_in_the_practices_country():
    chat = WebChatForm(
        {"name": "Ann", "date_of_birth": "1980-01-02", "phone": UK_MOBILE, "body": "Hi"},
        country="GB",
    )
    chat.is_valid()
    assert chat.cleaned_data["phone"] == "+447911123456"
    booking = BookingDetailsForm({"phone": UK_MOBILE}, country="GB")
    booking.is_valid()
    assert booking.cleaned_data["phone"] == "+447911123456"
    us_booking = BookingDetailsForm({"phone": UK_MOBILE})
    us_booking.is_valid()
    assert "phone" in us_booking.errors


def test_a_number_we_text_with_an_extension_is_refused_with_a_reason(world):
    with pytest.raises(ValidationError) as refused:
        services.patient_create(
            practice=world.practice,
            legal_name="Ext Ension",
            date_of_birth=BORN,
            phone="(617) 555-0142 ext. 12",
        )
    assert refused.value.messages == [
        "Texts cannot reach an extension. Enter a mobile number without one."
    ]
    chat = WebChatForm(
        {"name": "E", "date_of_birth": "1980-01-02", "phone": "617-555-0142 x12", "body": "Hi"}
    )
    assert not chat.is_valid()
    assert chat.errors["phone"] == [
        "Texts cannot reach an extension. Enter a mobile number without one."
    ]


def test_the_practice_line_keeps_its_extension():
    assert normalise_phone("(617) 555-0100 x12", extension=True) == "+16175550100;ext=12"
    assert normalise_phone("+16175550100;ext=12", extension=True) == "+16175550100;ext=12"
    assert normalise_phone("020 7946 0958", "GB", extension=True) == "+442079460958"


def test_the_admin_stores_the_practice_phone_normalised_in_its_country(client, world):
    sign_in(client, world.admin)
    url = reverse("admin:accounts_practice_change", args=[world.practice.pk])
    form = {
        "name": world.practice.name,
        "slug": world.practice.slug,
        "time_zone": "America/New_York",
        "country": "US",
        "phone": "(617) 555-0100 x12",
        "address": "",
        "business_hours": "{}",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    world.practice.refresh_from_db()
    assert world.practice.phone == "+16175550100;ext=12"
    listing = client.get(reverse("admin:accounts_practice_changelist")).content.decode()
    assert "(617) 555-0100 ext. 12" in listing
    # The texts' {practice_phone} reads as people write it, extension included.
    assert practice_context(world.patient)["practice_phone"] == "(617) 555-0100 ext. 12"

    response = client.post(url, {**form, "country": "GB", "phone": "020 7946 0958"})
    assert response.status_code == 302
    world.practice.refresh_from_db()
    assert world.practice.phone == "+442079460958"

    response = client.post(url, {**form, "phone": "555"})
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    response = client.post(url, {**form, "country": "XX"})
    assert response.status_code == 200
    assert "country" in response.context["adminform"].form.errors
    world.practice.refresh_from_db()
    assert world.practice.phone == "+442079460958"


def test_pages_show_a_foreign_practices_phone_in_its_own_national_format(london):
    from django.template import Context, Template

    shown = Template("{% load display %}{{ p.phone|phone:p.country }}").render(
        Context({"p": london})
    )
    assert shown == "020 7946 0958"


# --- Emails ---------------------------------------------------------------------------------


def test_one_spelling_per_address():
    assert canonical_email(" Ana@Bücher.Example ") == PUNYCODE
    assert canonical_email(PUNYCODE) == PUNYCODE
    assert canonical_email("doc@alpha.test") == "doc@alpha.test"
    assert email_index(UNICODE) == email_index(PUNYCODE)


def test_domains_idna_2003_would_fold_together_stay_distinct():
    # IDNA 2003 (Python's "idna" codec) maps ß to ss and ς to σ; UTS #46 with IDNA 2008 keeps
    # them, as browsers and mail servers do.
    assert canonical_email("ana@straße.de") == "ana@xn--strae-oqa.de"
    assert canonical_email("ana@strasse.de") == "ana@strasse.de"
    assert email_index("ana@straße.de") != email_index("ana@strasse.de")
    assert canonical_email("ana@ς.example") != canonical_email("ana@σ.example")
    assert canonical_email("ana@Bücher.example") == PUNYCODE


def test_a_domain_that_is_no_international_name_is_refused_clearly():
    bad = "ana@bü_cher.example"  # an underscore is no letter IDNA 2008 allows
    assert canonical_email(bad) == bad  # kept as typed for lookups, which then find no one
    with pytest.raises(ValidationError) as refused:
        normalise_email(f" {bad} ")
    assert refused.value.messages == [
        f"{bad} is not a valid email address: its domain cannot be spelled in ASCII."
    ]
    assert normalise_email("doc@alpha.test") == "doc@alpha.test"  # ASCII: as typed


def test_a_patient_who_typed_a_unicode_domain_is_found_by_its_punycode(world):
    patient = services.patient_create(
        practice=world.practice, legal_name="Ana Bücher", date_of_birth=BORN, email=UNICODE
    )
    assert patient.email == PUNYCODE
    for spelling in (PUNYCODE, UNICODE, "ANA@BÜCHER.EXAMPLE"):
        found = selectors.returning_patient(
            practice=world.practice, date_of_birth=BORN, email=spelling
        )
        assert found == patient
    again, created = services.patient_match_or_create(
        practice=world.practice, legal_name="Ana Bücher", date_of_birth=BORN, email=PUNYCODE
    )
    assert (again, created) == (patient, False)


def test_a_user_signs_in_and_is_unique_under_either_spelling(world):
    user = make_staff(world.practice, Role.FRONT_DESK, UNICODE, "Ana")
    assert user.email == PUNYCODE
    assert User.objects.with_email(PUNYCODE).get() == user
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": PUNYCODE, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)
    other = make_staff(world.practice, Role.FRONT_DESK, "bo@alpha.test", "Bo")

    class EmailOnly(UniqueEmailForm):
        class Meta:
            model = User
            fields: list[str] = []

    taken = EmailOnly(data={"email": PUNYCODE}, instance=other)
    assert taken.errors["email"] == ["Another account already uses this email."]
    with pytest.raises(IntegrityError), transaction.atomic():  # the database's backstop
        make_staff(world.practice, Role.FRONT_DESK, "ANA@xn--BCHER-KVA.example", "Ana 2")


def test_an_invitation_sees_the_account_under_the_other_spelling(world):
    make_staff(world.practice, Role.FRONT_DESK, PUNYCODE, "Ana")
    patient = services.patient_create(
        practice=world.practice, legal_name="Ana Bücher", date_of_birth=BORN, email=UNICODE
    )
    assert invitations.email_taken(patient)
    assert not invitations.invitable(patient)


def test_the_migration_respells_addresses_stored_before(world, capsys):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from telehealth.accounts.models import Patient
    from telehealth.crypto.keys import blind_index

    migration = importlib.import_module(
        "telehealth.accounts.migrations.0008_emails_with_international_domains"
    )
    user = make_staff(world.practice, Role.FRONT_DESK, "bo@bücher.example", "Bo")
    twin = make_staff(world.practice, Role.FRONT_DESK, "cy@bücher.example", "Cy")
    clash = make_staff(world.practice, Role.FRONT_DESK, "cy@zürich.example", "Cy 2")
    patient = services.patient_create(
        practice=world.practice, legal_name="Ana", date_of_birth=BORN, email=UNICODE
    )
    # As the code before stored them: the Unicode spelling, indexed as typed.
    for model, row, email in (
        (User, user, "bo@bücher.example"),
        (User, twin, "cy@bücher.example"),
        (Patient, patient, UNICODE),
    ):
        model.objects.filter(pk=row.pk).update(email=email, email_index=blind_index(email))
    User.objects.filter(pk=clash.pk).update(
        email="cy@xn--bcher-kva.example", email_index=blind_index("cy@xn--bcher-kva.example")
    )

    migration.respell(apps, SimpleNamespace(connection=connection))

    assert User.objects.get(pk=user.pk).email == "bo@xn--bcher-kva.example"
    assert User.objects.with_email("bo@bücher.example").get() == user
    assert Patient.objects.get(pk=patient.pk).email == PUNYCODE
    found = selectors.returning_patient(practice=world.practice, date_of_birth=BORN, email=PUNYCODE)
    assert found == patient
    assert User.objects.get(pk=twin.pk).email == "cy@bücher.example"  # another account has it
    # ...and the operator is told which, to merge them.
    assert capsys.readouterr().out == (
        f"accounts.0008: skipped User {twin.pk}: the new spelling is User {clash.pk}'s;"
        " merge them\n"
    )


def test_the_migration_keeps_sharp_s_domains_apart(world, capsys):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    from telehealth.crypto.keys import blind_index

    migration = importlib.import_module(
        "telehealth.accounts.migrations.0008_emails_with_international_domains"
    )
    sharp = make_staff(world.practice, Role.FRONT_DESK, "eva@strasse.example", "Eva")
    User.objects.filter(pk=sharp.pk).update(
        email="eva@straße.example", email_index=blind_index("eva@straße.example")
    )
    make_staff(world.practice, Role.FRONT_DESK, "eva@strasse.example", "Eva 2")
    broken = make_staff(world.practice, Role.FRONT_DESK, "bad@alpha.test", "Bad")
    User.objects.filter(pk=broken.pk).update(email="bad@bü_cher.example")

    migration.respell(apps, SimpleNamespace(connection=connection))

    assert User.objects.get(pk=sharp.pk).email == "eva@xn--strae-oqa.example"
    assert User.objects.get(pk=broken.pk).email == "bad@bü_cher.example"
    assert capsys.readouterr().out == (
        f"accounts.0008: skipped User {broken.pk}: the domain is not a valid international name\n"
    )


def test_the_migration_normalises_practice_phones_typed_before(world, london):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module(
        "telehealth.accounts.migrations.0009_practice_phones_normalised"
    )
    Practice.objects.filter(pk=world.practice.pk).update(phone="(617) 555-0100 x12")
    Practice.objects.filter(pk=london.pk).update(phone="020 7946 0958")
    other = Practice.objects.create(name="Typo", slug="typo", phone="555-01")

    migration.normalise(apps, SimpleNamespace(connection=connection))

    assert Practice.objects.get(pk=world.practice.pk).phone == "+16175550100;ext=12"
    assert Practice.objects.get(pk=london.pk).phone == "+442079460958"
    assert Practice.objects.get(pk=other.pk).phone == "555-01"  # left for an admin to correct
