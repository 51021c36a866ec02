"""A patient who booked without an account creates one from the invitation: on the booking
confirmation page, in the confirmation email, or sent by staff from the chart. The link asks
for the date of birth (under the shared lockout), then a password checked by the validators;
it makes the account, signs the patient in, and works only once."""

import re
import time
from datetime import date, timedelta
from unittest import mock
from urllib.parse import urlparse

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scheduling import services as scheduling
from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment, BookedVia
from telehealth import links
from telehealth.accounts import invitations, services
from telehealth.accounts.models import CareTeamReason, Patient, Role, User
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_patient, make_staff, sign_in
from tests.scheduling.conftest import local
from tests.scheduling.test_pages import booking_data, details_url
from tests.visits.test_join_page import appointment_at

pytestmark = pytest.mark.django_db

BORN = {"date_of_birth": "1980-01-02"}  # the date of birth of make_patient's patients
GOOD = {"password1": "lantern orchard velvet 42", "password2": "lantern orchard velvet 42"}


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    cache.clear()  # the date-of-birth counters are keyed by patient id, which tests reuse


@pytest.fixture
def newcomer(world) -> Patient:
    """A patient of practice A with an email and no account."""
    return make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)


def invitation_path(patient: Patient) -> str:
    return urlparse(links.url_for(invitations.INVITE, patient)).path


def past_date_of_birth(client: Client, path: str) -> None:
    answered = client.post(path, BORN)
    assert answered.status_code == 302
    assert answered["Location"] == path


# The invitation page


def test_invitation_asks_the_date_of_birth_then_a_password_and_signs_the_patient_in(
    client, newcomer
):
    path = invitation_path(newcomer)
    first = client.get(path)
    assert first.status_code == 200
    assert "Your date of birth" in first.content.decode()
    assert "nina@example.com" not in first.content.decode()  # nothing shown before the check
    past_date_of_birth(client, path)
    form = client.get(path).content.decode()
    assert 'value="nina@example.com"' in form  # the sign-in name, shown
    assert "Confirm password" in form
    created = client.post(path, GOOD)
    assert created.status_code == 302
    assert created["Location"] == reverse("home")
    newcomer.refresh_from_db()
    user = newcomer.user
    assert user is not None
    assert user.role == Role.PATIENT
    assert user.email == "nina@example.com"
    assert user.full_name == "Nina Newcomer"
    assert user.check_password(GOOD["password1"])
    home = client.get(reverse("home"))
    assert home.status_code == 200  # signed in, and no second factor asked of a patient
    assert home.context["patient"] == newcomer
    assert AuditEvent.objects.filter(
        action="create", patient_id=newcomer.pk, detail__contains="portal account created"
    ).exists()


def test_the_new_password_signs_in_afterwards(client, newcomer):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    client.post(path, GOOD)
    fresh = Client()
    signed_in = fresh.post(
        reverse("accounts:login"),
        {"username": "nina@example.com", "password": GOOD["password1"]},
    )
    assert signed_in.status_code == 302
    assert fresh.get(reverse("scheduling:mine")).status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "This password is too common."),
        ("839201746512", "This password is entirely numeric."),
        ("nina@example.com", "The password is too similar to the email."),
    ],
)
def test_a_weak_password_is_refused_with_the_validators_message(
    client, newcomer, password, message
):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    refused = client.post(path, {"password1": password, "password2": password})
    assert refused.status_code == 400
    assert message in refused.content.decode()
    newcomer.refresh_from_db()
    assert newcomer.user_id is None
    assert not User.objects.with_email("nina@example.com").exists()


def test_the_confirmation_must_match(client, newcomer):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    refused = client.post(path, {**GOOD, "password2": "lantern orchard velvet 43"})
    assert refused.status_code == 400
    assert "The two passwords do not match." in refused.content.decode()
    assert not User.objects.with_email("nina@example.com").exists()


def test_the_email_cannot_be_changed_through_the_form(client, newcomer):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    client.post(path, {**GOOD, "email": "attacker@example.com"})
    assert User.objects.with_email("nina@example.com").exists()
    assert not User.objects.with_email("attacker@example.com").exists()


def test_a_password_posted_without_the_date_of_birth_check_creates_nothing(client, newcomer):
    refused = client.post(invitation_path(newcomer), GOOD)
    assert refused.status_code == 400  # the date-of-birth form answers, with its error
    newcomer.refresh_from_db()
    assert newcomer.user_id is None


def test_another_invitation_asks_for_the_date_of_birth_again(client, world, newcomer):
    past_date_of_birth(client, invitation_path(newcomer))
    other = make_patient(world.practice, "Omar Other", "omar@example.com", login=False)
    page = client.get(invitation_path(other))
    assert "Your date of birth" in page.content.decode()
    assert client.post(invitation_path(other), GOOD).status_code == 400
    other.refresh_from_db()
    assert other.user_id is None


def test_a_wrong_date_of_birth_is_refused_and_five_lock_the_invitation(newcomer):
    path = invitation_path(newcomer)
    for n in range(5):
        wrong = Client().post(path, {"date_of_birth": f"1990-01-0{n + 1}"})
        assert wrong.status_code == 400
        assert "does not match our records" in wrong.content.decode()
    locked = Client().post(path, BORN)
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert Client().get(path).status_code == 429


def test_wrong_dates_on_another_link_of_the_patient_lock_the_invitation_too(
    world, video_type, newcomer
):
    """One counter per patient over every kind of link: guesses on the visit's join link
    count against the invitation."""
    # The join page asks for the date of birth once its waiting room is open.
    appointment = appointment_at(
        world, video_type, timezone.now() + timedelta(minutes=5), patient=newcomer
    )
    join = reverse("visits:join", args=[links.token_for(JOIN, appointment)])
    for n in range(5):
        assert Client().post(join, {"date_of_birth": f"1990-01-0{n + 1}"}).status_code == 400
    assert Client().post(invitation_path(newcomer), BORN).status_code == 429


@pytest.mark.parametrize(
    "data",
    [
        {"date_of_birth": "not a date"},
        {"date_of_birth": "1980-02-31"},
        {"date_of_birth": ""},
        {},
    ],
)
def test_a_malformed_date_of_birth_is_a_400_with_a_message(newcomer, data):
    answer = Client().post(invitation_path(newcomer), data)
    assert answer.status_code == 400
    assert 'class="field__error"' in answer.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"password1": "x" * 300, "password2": "x" * 300},
        {"password1": "", "password2": ""},
        {"password1": GOOD["password1"]},
        {},
    ],
)
def test_a_malformed_password_form_is_a_400_with_a_message(client, newcomer, data):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    answer = client.post(path, data)
    assert answer.status_code == 400
    assert 'class="field__error"' in answer.content.decode()
    assert not User.objects.with_email("nina@example.com").exists()


def test_the_invitation_works_once(client, newcomer):
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    client.post(path, GOOD)
    again = Client().get(path)
    assert again.status_code == 410
    assert "already used or has expired" in again.content.decode()
    repeated = Client()
    assert repeated.post(path, BORN).status_code == 410
    assert User.objects.filter(role=Role.PATIENT, patient=newcomer).count() == 1


def test_a_patient_who_has_an_account_is_offered_sign_in_and_reset(world):
    page = Client().get(invitation_path(world.patient))
    assert page.status_code == 410
    content = page.content.decode()
    assert "You already have an account" in content
    assert reverse("accounts:login") in content
    assert reverse("accounts:password-reset") in content


def test_an_expired_invitation_says_so(newcomer):
    sent_at = time.time() - invitations.INVITE_MAX_AGE.total_seconds() - 60
    with mock.patch("time.time", return_value=sent_at):
        path = invitation_path(newcomer)
    page = Client().get(path)
    assert page.status_code == 410
    assert "already used or has expired" in page.content.decode()
    assert "expired" in page.content.decode()


def test_a_tampered_invitation_is_refused(newcomer):
    path = invitation_path(newcomer)
    page = Client().get(path[:-3] + "xx/")
    assert page.status_code == 410


def test_an_invitation_to_a_patient_without_email_says_how_to_get_one(world):
    patient = make_patient(world.practice, "Eddie Noemail", "", login=False)
    page = Client().get(invitation_path(patient))
    assert page.status_code == 409
    content = page.content.decode()
    assert "We have no email address for you" in content
    assert world.practice.phone in content
    assert "Your date of birth" not in content


def test_an_email_another_account_uses_is_explained_and_nothing_is_written(client, world, newcomer):
    make_staff(world.practice, Role.FRONT_DESK, "nina@example.com", "Nina at the desk")
    path = invitation_path(newcomer)
    past_date_of_birth(client, path)
    page = client.get(path)
    assert page.status_code == 409
    assert "Another account already signs in with the email on your record" in (
        page.content.decode()
    )
    assert client.post(path, GOOD).status_code == 409
    newcomer.refresh_from_db()
    assert newcomer.user_id is None
    assert User.objects.with_email("nina@example.com").get().role == Role.FRONT_DESK


def test_the_service_refuses_a_taken_email_and_leaves_nothing_half_written(world, newcomer):
    make_staff(world.practice, Role.FRONT_DESK, "nina@example.com", "Nina at the desk")
    users = User.objects.count()
    with pytest.raises(services.AccountError, match="Another account"):
        services.patient_account_create(patient=newcomer, password=GOOD["password1"])
    newcomer.refresh_from_db()
    assert newcomer.user_id is None
    assert User.objects.count() == users
    assert Client().get(invitation_path(newcomer)).status_code == 200  # the link still works


def test_a_signed_in_user_is_asked_to_sign_out_first(client, world, newcomer):
    sign_in(client, world.front_desk)
    page = client.get(invitation_path(newcomer))
    assert page.status_code == 409
    assert "Sign out first" in page.content.decode()


# The booking confirmation page and the appointment emails


def book_online(client: Client, world, video_type, **overrides: str) -> tuple[Appointment, str]:
    """Book through the public form; the appointment and its confirmation page."""
    start = local(3, 10)
    booked = client.post(
        details_url(world, video_type, start), booking_data(video_type, start, **overrides)
    )
    assert booked.status_code == 302, booked.content
    page = client.get(booked["Location"])
    assert page.status_code == 200
    return Appointment.objects.get(patient__legal_name="Nora New"), page.content.decode()


def test_the_confirmation_page_offers_a_new_patient_an_account(client, world, video_type):
    appointment, page = book_online(client, world, video_type)
    assert 'id="create-account"' in page
    for gives in ("message your care team", "appointments", "see a clinician now", "readings"):
        assert gives in page
    link = re.search(r'href="(/accounts/invitation/[^"]+)"', page)
    assert link is not None
    opened = Client().post(link.group(1), {"date_of_birth": "1990-05-04"})
    assert opened.status_code == 302  # the link is Nora's: her date of birth opens it


def test_the_confirmation_page_offers_nothing_to_a_patient_with_an_account(
    client, world, video_type
):
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    page = client.get(reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)]))
    assert 'id="create-account"' not in page.content.decode()
    assert "/accounts/invitation/" not in page.content.decode()


def test_the_confirmation_page_tells_a_patient_without_email_how_to_get_an_account(
    client, world, video_type
):
    patient = make_patient(world.practice, "Eddie Noemail", "", login=False)
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=world.front_desk,
        via=BookedVia.STAFF,
    )
    page = client.get(reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)]))
    content = page.content.decode()
    assert 'id="create-account"' in content
    assert "/accounts/invitation/" not in content
    assert world.practice.phone in content


def test_a_cancelled_appointment_offers_no_account(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    scheduling.appointment_cancel(appointment=appointment, by=None, reason="")
    page = client.get(reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)]))
    assert 'id="create-account"' not in page.content.decode()


def test_the_confirmation_email_carries_the_invitation_and_the_text_does_not(
    client, world, video_type
):
    appointment, _page = book_online(client, world, video_type)
    sent = OutboundMessage.objects.filter(template="appointment.confirmation")
    email, text = sent.get(channel="email"), sent.get(channel="sms")
    assert "Create your patient account" in email.body
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", email.body)
    assert link is not None
    assert link.group(0) in email.html_body
    assert "\n\n\n" not in email.body
    assert "/accounts/invitation/" not in text.body
    opened = Client().post(urlparse(link.group(0)).path, {"date_of_birth": "1990-05-04"})
    assert opened.status_code == 302


def test_a_patient_with_an_account_gets_the_email_without_a_gap(world, video_type):
    scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    email = OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    assert "/accounts/invitation/" not in email.body
    assert "\n\n\n" not in email.body
    assert "calendar.\n\nAlpha Health" in email.body


def test_the_moved_email_carries_the_invitation(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    moved = client.post(
        reverse("scheduling:manage-reschedule", args=[links.token_for(MANAGE, appointment)]),
        {"start": local(4, 11).isoformat()},
    )
    assert moved.status_code == 302
    email = OutboundMessage.objects.get(template="appointment.moved", channel="email")
    assert "Create your patient account" in email.body
    assert "/accounts/invitation/" in email.body


def test_a_spanish_speaking_patient_gets_the_invitation_in_spanish(world, video_type):
    patient = make_patient(
        world.practice, "Lucía Nueva", "lucia@example.com", login=False, preferred_language="es"
    )
    scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    email = OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    assert "Cree su cuenta de paciente" in email.body
    assert "/accounts/invitation/" in email.body


# Staff send the invitation from the chart


def send(client: Client, patient: Patient):
    return client.post(reverse("accounts:invitation-send", args=[patient.pk]), follow=True)


def test_front_desk_emails_the_invitation_and_it_opens(client, world, newcomer):
    sign_in(client, world.front_desk)
    chart = client.get(reverse("accounts:patient-chart", args=[newcomer.pk]))
    assert "Email an account invitation" in chart.content.decode()
    answer = send(client, newcomer)
    assert "Invitation sent by email." in answer.content.decode()
    message = OutboundMessage.objects.get(template="account.invitation")
    assert message.channel == "email"
    assert message.patient == newcomer
    assert "Create your account" in message.body
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", message.body)
    assert link is not None
    assert Client().post(urlparse(link.group(0)).path, BORN).status_code == 302
    assert AuditEvent.objects.filter(
        actor=world.front_desk, patient_id=newcomer.pk, detail__contains="invitation sent"
    ).exists()


def test_a_patient_who_prefers_texts_gets_the_invitation_by_text(client, world):
    patient = make_patient(
        world.practice,
        "Tess Texter",
        "tess@example.com",
        login=False,
        phone="+16175550144",
        sms_consent=True,
        preferred_channel="sms",
    )
    sign_in(client, world.admin)
    answer = send(client, patient)
    assert "Invitation sent by text message." in answer.content.decode()
    message = OutboundMessage.objects.get(template="account.invitation")
    assert message.channel == "sms"
    assert "/accounts/invitation/" in message.body


def test_a_patient_who_prefers_texts_without_consent_gets_an_email(client, world):
    patient = make_patient(
        world.practice, "Nell Noconsent", "nell@example.com", login=False, preferred_channel="sms"
    )
    sign_in(client, world.front_desk)
    send(client, patient)
    assert OutboundMessage.objects.get(template="account.invitation").channel == "email"


def test_a_clinician_on_the_care_team_may_send_it(client, world, newcomer):
    services.care_team_add(
        patient=newcomer, clinician=world.clinician, reason=CareTeamReason.ASSIGNED, by=None
    )
    sign_in(client, world.clinician)
    assert "Invitation sent" in send(client, newcomer).content.decode()


def test_a_new_invitation_retires_the_one_sent_before(client, world, newcomer):
    old = invitation_path(newcomer)
    sign_in(client, world.front_desk)
    send(client, newcomer)
    send(client, newcomer)
    assert OutboundMessage.objects.filter(template="account.invitation").count() == 2
    assert Client().get(old).status_code == 410
    newest = OutboundMessage.objects.filter(template="account.invitation").latest("pk")
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", newest.body)
    assert link is not None
    assert Client().get(urlparse(link.group(0)).path).status_code == 200


def test_a_patient_with_an_account_is_not_invited(client, world):
    sign_in(client, world.front_desk)
    answer = send(client, world.patient)
    assert "already has a portal account" in answer.content.decode()
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_a_patient_without_email_cannot_be_invited(client, world):
    patient = make_patient(
        world.practice, "Eddie Noemail", "", login=False, sms_consent=True, phone="+16175550145"
    )
    sign_in(client, world.front_desk)
    chart = client.get(reverse("accounts:patient-chart", args=[patient.pk]))
    assert "add an email to this record" in chart.content.decode()
    answer = send(client, patient)
    assert "There is no email on this patient&#x27;s record" in answer.content.decode()
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_sending_an_invitation_needs_a_post(client, world, newcomer):
    sign_in(client, world.front_desk)
    url = reverse("accounts:invitation-send", args=[newcomer.pk])
    assert client.get(url).status_code == 405


def test_anonymous_visitors_are_sent_to_sign_in(client, newcomer):
    answer = client.post(reverse("accounts:invitation-send", args=[newcomer.pk]))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("accounts:login"))
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_a_patient_cannot_send_invitations(client, world, newcomer):
    sign_in(client, world.patient.user)
    answer = client.post(reverse("accounts:invitation-send", args=[newcomer.pk]))
    assert answer.status_code == 403
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_staff_of_another_practice_get_404(client, world, newcomer):
    outsider = make_staff(world.outside_practice, Role.FRONT_DESK, "desk@beta.test", "Beta desk")
    sign_in(client, outsider)
    answer = client.post(reverse("accounts:invitation-send", args=[newcomer.pk]))
    assert answer.status_code == 404
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_a_clinician_outside_the_care_team_gets_404(client, world, newcomer):
    sign_in(client, world.other_clinician)
    answer = client.post(reverse("accounts:invitation-send", args=[newcomer.pk]))
    assert answer.status_code == 404
    assert not OutboundMessage.objects.filter(template="account.invitation").exists()


def test_the_invitation_link_is_bound_to_its_patient(newcomer, world):
    """A link for one patient never opens another's record, whatever date of birth is typed."""
    other = make_patient(
        world.practice, "Omar Other", "omar@example.com", login=False, dob=date(1975, 6, 7)
    )
    path = invitation_path(newcomer)
    assert Client().post(path, {"date_of_birth": "1975-06-07"}).status_code == 400
    other.refresh_from_db()
    assert other.user_id is None
