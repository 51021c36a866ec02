"""The policy holder on the insurance card: a patient who is not the policy holder gives the
holder's date of birth, sex and address (a claim's subscriber loop needs them); they are kept
encrypted, and intake's selectors hand billing either those or the patient's own record."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from intake import selectors
from intake.models import InsuranceCard
from tests.conftest import sign_in
from tests.intake.test_intake import PNG


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


URL = "/intake/insurance/"
CARD = {
    "payer": "Blue Cross",
    "member_id": "XYZ123456",
    "subscriber_name": "Jane Alpha",
}
HOLDER = {
    "subscriber_birth_date": "1979-08-09",
    "subscriber_sex": "female",
    "subscriber_line1": "77 Harbor Way",
    "subscriber_line2": "Apt 4",
    "subscriber_city": "Quincy",
    "subscriber_state": "MA",
    "subscriber_postal_code": "02169-1234",
}


def front() -> SimpleUploadedFile:
    return SimpleUploadedFile("front.png", PNG, "image/png")


def test_the_form_asks_about_the_policy_holder_with_labels(client, world):
    sign_in(client, world.patient.user)
    html = client.get(URL).content.decode()
    assert "About the policy holder" in html
    for label in (
        "Policy holder&#x27;s date of birth",
        "Policy holder&#x27;s sex, as on the insurance record",
        "Policy holder&#x27;s street address",
        "ZIP code",
    ):
        assert f">{label}</label>" in html
    assert 'type="date"' in html and "js/insurance.js" in html


def test_a_spouses_policy_needs_the_holders_details(client, world):
    sign_in(client, world.patient.user)
    refused = client.post(URL, {**CARD, "relationship": "spouse", "front": front()})
    assert refused.status_code == 400
    html = refused.content.decode()
    for message in (
        "Enter the policy holder&#x27;s date of birth.",
        "Choose the policy holder&#x27;s sex.",
        "Enter the policy holder&#x27;s street address.",
        "Enter the policy holder&#x27;s city.",
        "Choose the policy holder&#x27;s state.",
        "Enter the policy holder&#x27;s ZIP code.",
    ):
        assert message in html
    assert not InsuranceCard.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "subscriber_birth_date",
            (timezone.localdate() + timedelta(days=1)).isoformat(),
            "The date of birth cannot be in the future.",
        ),
        ("subscriber_postal_code", "0216", "Enter a ZIP code of 5 digits, or 5+4 digits."),
        ("subscriber_state", "ZZ", "Select a valid choice."),
        ("subscriber_sex", "robot", "Select a valid choice."),
    ],
)
def test_bad_holder_details_are_refused(client, world, field, value, message):
    sign_in(client, world.patient.user)
    data = {**CARD, **HOLDER, field: value, "relationship": "child", "front": front()}
    refused = client.post(URL, data)
    assert refused.status_code == 400
    assert message in refused.content.decode()
    assert not InsuranceCard.objects.exists()


def test_the_holders_details_are_saved_encrypted_and_read_through_the_selector(client, world):
    sign_in(client, world.patient.user)
    saved = client.post(URL, {**CARD, **HOLDER, "relationship": "spouse", "front": front()})
    assert saved.status_code == 302
    card = InsuranceCard.objects.get()
    assert card.subscriber_birth_date == "1979-08-09"
    assert card.subscriber_sex == "female"
    assert card.subscriber_address == {
        "line1": "77 Harbor Way",
        "line2": "Apt 4",
        "city": "Quincy",
        "state": "MA",
        "postal_code": "021691234",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT subscriber_birth_date, subscriber_sex, subscriber_address "
            "FROM intake_insurancecard"
        )
        raw = " ".join(str(value) for value in cursor.fetchone())
    assert "1979" not in raw and "female" not in raw and "Harbor" not in raw

    insurance = selectors.claim_insurance(world.patient)
    assert insurance is not None
    assert (insurance.payer, insurance.member_id) == ("Blue Cross", "XYZ123456")
    holder = insurance.holder
    assert not holder.is_patient and holder.missing == ()
    assert (holder.name, holder.birth_date, holder.sex) == (
        "Jane Alpha",
        date(1979, 8, 9),
        "female",
    )
    assert holder.relationship == "spouse"
    assert holder.address["city"] == "Quincy"


def test_for_self_the_patients_own_record_is_the_policy_holder(client, world):
    world.patient.address = {
        "line1": "1 Elm",
        "city": "Boston",
        "state": "MA",
        "postal_code": "02110",
    }
    world.patient.sex = "male"
    world.patient.save(update_fields=["address", "sex"])
    sign_in(client, world.patient.user)
    # Details typed for "self" are ignored: the patient's record already says them.
    saved = client.post(
        URL,
        {
            **CARD,
            **HOLDER,
            "subscriber_name": "Pat Alpha",
            "relationship": "self",
            "front": front(),
        },
    )
    assert saved.status_code == 302
    card = InsuranceCard.objects.get()
    assert (card.subscriber_birth_date, card.subscriber_sex, card.subscriber_address) == (
        "",
        "",
        {},
    )
    insurance = selectors.claim_insurance(world.patient)
    assert insurance is not None
    holder = insurance.holder
    assert holder.is_patient and holder.missing == ()
    assert (holder.name, holder.birth_date, holder.sex) == ("Pat Alpha", date(1980, 1, 2), "male")
    assert holder.address["line1"] == "1 Elm"


def test_what_is_missing_is_named(world):
    card = InsuranceCard.objects.create(
        patient=world.patient,
        payer="Blue Cross",
        member_id="X1",
        subscriber_name="Jane Alpha",
        relationship=InsuranceCard.Relationship.OTHER,
        subscriber_sex="female",
        front="insurance/front.png",
        front_type="image/png",
    )
    assert selectors.policy_holder(card).missing == ("date of birth", "address")
    assert selectors.claim_insurance(world.other_patient) is None
