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
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from scheduling import services as scheduling
from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment, BookedVia
from scheduling.views import INVITE_REQUEST_WINDOW
from telehealth import links
from telehealth.accounts import invitations, services
from telehealth.accounts.models import CareTeamReason, Patient, Role, User
from telehealth.audit.models import AuditEvent
from telehealth.notify import dispatch
from telehealth.notify.models import MessageTemplate, OutboundMessage
from tests.clock import window_start
from tests.conftest import make_patient, make_staff, sign_in
from tests.scheduling.conftest import local, send_now
from tests.scheduling.conftest import video_visit_at as appointment_at
from tests.scheduling.test_pages import booking_data, details_url


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


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
    assert "(617) 555-0100" in content  # the practice phone, as people write it
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


def manage_path(appointment: Appointment) -> str:
    return reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)])


def ask_path(appointment: Appointment) -> str:
    return reverse("scheduling:manage-account-invite", args=[links.token_for(MANAGE, appointment)])


def invitations_sent() -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(template="account.invitation"))


def test_the_confirmation_page_offers_a_new_patient_an_account_by_email(client, world, video_type):
    appointment, page = book_online(client, world, video_type)
    assert 'id="create-account"' in page
    for gives in ("message your care team", "appointments", "see a clinician now", "readings"):
        assert gives in page
    assert "Email me a link to create my account" in page
    # The button posts back to this very link (a token signed now could differ by a second).
    assert re.search(r"action=\"/appointments/[^/\"]+/account-invitation/\"", page)
    assert "n•••@example.com" in page
    assert "nora@example.com" not in page
    assert "/accounts/invitation/" not in page  # the page never carries the invitation
    assert invitations_sent() == []


def test_pressing_the_button_emails_the_invitation_and_the_page_says_where(
    client, world, video_type
):
    appointment, _page = book_online(client, world, video_type)
    path = ask_path(appointment)
    # The press and the page in one window of the limit: across a window's end the page would
    # rightly offer the button again (a clean-clone run failed so, the window ending between).
    middle = window_start(INVITE_REQUEST_WINDOW) + INVITE_REQUEST_WINDOW / 2
    with mock.patch("time.time", return_value=middle):
        asked = client.post(path)
        assert asked.status_code == 302
        assert asked["Location"] == path.removesuffix("account-invitation/")  # back to the page
        page = client.get(asked["Location"]).content.decode()
    assert "We emailed a link to create your account to n•••@example.com" in page
    assert "nora@example.com" not in page
    assert "/accounts/invitation/" not in page
    assert "Email me a link to create my account" not in page  # sent: nothing to press
    [message] = invitations_sent()
    assert message.channel == "email"
    assert message.patient == appointment.patient
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", message.body)
    assert link is not None
    opened = Client().post(urlparse(link.group(0)).path, {"date_of_birth": "1990-05-04"})
    assert opened.status_code == 302  # Nora's invitation: her date of birth opens it
    assert AuditEvent.objects.filter(
        actor=None, patient_id=appointment.patient_id, detail__contains="from the booking page"
    ).exists()


def test_a_stranger_matched_to_a_record_by_phone_gets_no_way_into_it(world, video_type):
    """Online booking attaches a booking to the record with the same date of birth and phone,
    whatever email is typed. The confirmation page then belongs to whoever booked: it must
    neither carry an invitation nor show the record's email, and the invitation it sends goes
    to the record's email, never to the typed one."""
    victim = make_patient(
        world.practice, "Vera Victim", "vera@example.com", login=False, phone="+16175550188"
    )
    stranger = Client()
    start = local(3, 10)
    booked = stranger.post(
        details_url(world, video_type, start),
        booking_data(
            video_type,
            start,
            legal_name="Anyone",
            date_of_birth="1980-01-02",
            phone="(617) 555-0188",
            email="evil@example.com",
        ),
    )
    assert booked.status_code == 302, booked.content
    appointment = Appointment.objects.get()
    assert appointment.patient == victim  # the match the booking form makes
    page = stranger.get(booked["Location"]).content.decode()
    assert 'id="create-account"' in page
    assert "/accounts/invitation/" not in page
    assert "vera@example.com" not in page
    assert "v•••@example.com" in page

    assert stranger.post(ask_path(appointment)).status_code == 302
    page = stranger.get(booked["Location"]).content.decode()
    assert "/accounts/invitation/" not in page
    assert "vera@example.com" not in page
    [message] = invitations_sent()
    assert message.patient == victim
    dispatch.dispatch_due()
    invitation = [m for m in mail.outbox if m.subject.startswith("Create your patient account")]
    assert [m.to for m in invitation] == [["vera@example.com"]]
    # The booking's own confirmation carries an invitation too: also to the record's email.
    carrying = [m for m in mail.outbox if "/accounts/invitation/" in m.body]
    assert {address for m in carrying for address in m.to} == {"vera@example.com"}
    assert not [m for m in mail.outbox if "evil@example.com" in m.to]
    victim.refresh_from_db()
    assert victim.email == "vera@example.com"
    assert victim.user_id is None


def test_the_button_sends_one_invitation_per_few_minutes(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    now = window_start(INVITE_REQUEST_WINDOW)
    with mock.patch("time.time", return_value=now):
        client.post(ask_path(appointment))
    with mock.patch("time.time", return_value=now + INVITE_REQUEST_WINDOW - 1):
        again = client.post(ask_path(appointment), follow=True)
    assert "We already emailed you a link a few minutes ago" in again.content.decode()
    assert len(invitations_sent()) == 1
    with mock.patch("time.time", return_value=now + INVITE_REQUEST_WINDOW + 1):
        page = client.get(manage_path(appointment)).content.decode()
        assert "Email me a link to create my account" in page  # may ask again
        assert client.post(ask_path(appointment)).status_code == 302
    assert len(invitations_sent()) == 2


def test_the_limit_is_per_patient_not_per_link(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    second = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=appointment.patient,
        appointment_type=video_type,
        start=local(5, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    now = window_start(INVITE_REQUEST_WINDOW)
    with mock.patch("time.time", return_value=now):  # both in one window
        client.post(ask_path(appointment))
        Client().post(ask_path(second))
    assert len(invitations_sent()) == 1


@pytest.mark.parametrize(
    "token", ["not-a-token", "AAAA:1kXyZq:Ab3dE5gH7jK9"], ids=["malformed", "forged"]
)
def test_a_bad_manage_link_cannot_ask_for_an_invitation(client, world, video_type, token):
    book_online(client, world, video_type)
    answer = client.post(reverse("scheduling:manage-account-invite", args=[token]))
    assert answer.status_code == 410
    assert "This link cannot be used" in answer.content.decode()
    assert invitations_sent() == []


def test_an_expired_manage_link_cannot_ask_for_an_invitation(client, world, video_type):
    """A manage link ends with its appointment: once the visit is over it asks for nothing."""
    appointment, _page = book_online(client, world, video_type)
    with mock.patch("django.utils.timezone.now", return_value=appointment.end + timedelta(hours=1)):
        answer = client.post(ask_path(appointment))
    assert answer.status_code == 410
    assert "in the past" in answer.content.decode()
    assert invitations_sent() == []


def test_asking_for_an_invitation_needs_a_post(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    assert client.get(ask_path(appointment)).status_code == 405
    assert invitations_sent() == []


def test_asking_for_an_invitation_needs_the_csrf_token(world, video_type):
    browser = Client(enforce_csrf_checks=True)
    appointment, _page = book_online(Client(), world, video_type)
    assert browser.post(ask_path(appointment)).status_code == 403
    assert invitations_sent() == []


def test_a_cancelled_appointment_cannot_ask_for_an_invitation(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    scheduling.appointment_cancel(appointment=appointment, by=None, reason="")
    answer = client.post(ask_path(appointment))
    assert answer.status_code == 410
    assert "cancelled" in answer.content.decode()
    assert invitations_sent() == []


def test_a_patient_with_an_account_cannot_ask_for_an_invitation(client, world, video_type):
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    answer = client.post(ask_path(appointment), follow=True)
    assert "An account invitation cannot be sent from this page." in answer.content.decode()
    assert invitations_sent() == []


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
    assert "(617) 555-0100" in content  # the practice phone, as people write it


def test_a_cancelled_appointment_offers_no_account(client, world, video_type):
    appointment, _page = book_online(client, world, video_type)
    scheduling.appointment_cancel(appointment=appointment, by=None, reason="")
    page = client.get(reverse("scheduling:manage", args=[links.token_for(MANAGE, appointment)]))
    assert 'id="create-account"' not in page.content.decode()


def confirmation_email() -> OutboundMessage:
    """The booking's confirmation email, as the dispatcher renders it when it goes."""
    return OutboundMessage.objects.get(template="appointment.confirmation", channel="email")


def test_the_confirmation_email_carries_the_invitation_and_the_text_does_not(
    client, world, video_type
):
    appointment, _page = book_online(client, world, video_type)
    sent = OutboundMessage.objects.filter(template="appointment.confirmation")
    email, text = send_now(sent.get(channel="email")), send_now(sent.get(channel="sms"))
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
    email = send_now(
        OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    )
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
    email = send_now(OutboundMessage.objects.get(template="appointment.moved", channel="email"))
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
    email = send_now(
        OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    )
    assert "Cree su cuenta de paciente" in email.body
    assert "/accounts/invitation/" in email.body


def test_a_reworded_invitation_paragraph_gets_the_practice_name(world, video_type):
    MessageTemplate.objects.create(
        practice=world.practice,
        key=invitations.PARAGRAPH,
        channel="email",
        language="en",
        body="Join {practice_name} online at {account_link}",
    )
    patient = make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)
    scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    email = send_now(
        OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    )
    assert f"Join {world.practice.name} online at http" in email.body


# An email another account already signs in with


@pytest.fixture
def taken(world) -> Patient:
    """A patient without an account whose email a staff account signs in with."""
    return make_patient(world.practice, "Tina Taken", world.front_desk.email, login=False)


def test_a_taken_email_is_not_invitable(taken):
    assert not invitations.invitable(taken)
    assert invitations.message_context(taken) == {"account_link": "", "account_invite": ""}


def test_staff_cannot_invite_to_a_taken_email(client, world, taken):
    sign_in(client, world.admin)
    chart = client.get(reverse("accounts:patient-chart", args=[taken.pk])).content.decode()
    assert "Another account already signs in with this record" in chart
    assert "Email an account invitation" not in chart
    answer = send(client, taken).content.decode()
    assert "Another account already signs in with the email on your record" in answer
    assert invitations_sent() == []


def test_the_booking_page_and_email_offer_nothing_for_a_taken_email(
    client, world, video_type, taken
):
    appointment = scheduling.appointment_book(
        provider=world.clinician.provider,
        patient=taken,
        appointment_type=video_type,
        start=local(3, 10),
        by=None,
        via=BookedVia.ONLINE,
    )
    page = client.get(manage_path(appointment)).content.decode()
    assert 'id="create-account"' not in page
    assert "Email me a link to create my account" not in page
    email = send_now(
        OutboundMessage.objects.get(template="appointment.confirmation", channel="email")
    )
    assert "/accounts/invitation/" not in email.body
    answer = client.post(ask_path(appointment), follow=True).content.decode()
    assert "An account invitation cannot be sent from this page." in answer
    assert invitations_sent() == []


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


def test_a_patient_who_prefers_texts_still_gets_the_invitation_by_email(client, world):
    """The email is the sign-in name: the invitation goes there, so opening it proves the
    patient reads that mailbox. A text would prove only the phone."""
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
    chart = client.get(reverse("accounts:patient-chart", args=[patient.pk])).content.decode()
    assert "Email an account invitation" in chart
    assert "Text an account invitation" not in chart
    answer = send(client, patient)
    assert "Invitation sent by email." in answer.content.decode()
    [message] = invitations_sent()
    assert message.channel == "email"
    assert "/accounts/invitation/" in message.body
    texts = OutboundMessage.objects.filter(channel="sms")
    assert not [text for text in texts if "/accounts/invitation/" in text.body]


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
