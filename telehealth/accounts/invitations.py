"""The account invitation: a no-login link (telehealth.links) that lets a patient who booked
without an account choose a password for the portal.

The link is bound to the patient and asks for their date of birth before anything else. It
works once: creating the account bumps its link version (and a patient with an account ends
it anyway), and so does sending a new invitation, which retires the ones sent before. It
expires after INVITE_MAX_AGE. The sign-in name is the email on the patient's record, so a
patient without one cannot be invited, nor one whose email another account signs in with.

Invitations go only to that email, never by text and never shown on a page: whoever opens the
link must read the record's mailbox, which is what proves they are the patient. (Online
booking may attach a booking to an existing record on a date of birth and a phone number, so
the booking's confirmation page proves nothing about the record's email.)"""

from datetime import timedelta

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from telehealth import links
from telehealth.accounts.models import Patient, Role, User
from telehealth.notify import services as notify
from telehealth.notify import wording

INVITE = "account-invite"
INVITE_MAX_AGE = timedelta(days=14)
# The invitation a browser passed the date-of-birth check for: the token itself, so a newer
# invitation (or another patient's) asks again.
SESSION_KEY = "account_invite"
# The wording {account_invite} stands for (telehealth.notify.wording; practices may reword it).
PARAGRAPH = "account.invite_paragraph"


def _patients() -> QuerySet[Patient]:
    return Patient.objects.select_related("practice", "user")


def _patient_of(patient: Patient) -> Patient:
    return patient


def _invite_check(patient: Patient) -> str | None:
    if patient.user_id is not None:
        return _("You already have an account.")
    return None


def register() -> None:
    links.register(
        links.LinkKind(
            name=INVITE,
            salt="accounts.invite",
            max_age=INVITE_MAX_AGE,
            url_name="accounts:invitation",
            queryset=_patients,
            id_key="p",
            version_key="v",
            patient_of=_patient_of,
            check=_invite_check,
        )
    )


def invitable(patient: Patient) -> bool:
    """Whether an invitation can lead anywhere: no account yet, and an email to sign in with
    that no other account signs in with."""
    if patient.user_id is not None or not patient.email:
        return False
    return not email_taken(patient)


def email_taken(patient: Patient) -> bool:
    """Whether another account already signs in with the email on the patient's record."""
    return bool(patient.email) and User.objects.with_email(patient.email).exists()


def masked_email(email: str) -> str:
    """An email as a page may show it to whoever holds a booking link: enough for the patient
    to recognise their address ("n•••@example.com"), not enough to learn it."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


def unsaved_account(patient: Patient) -> User:
    """The account the invitation would create, not saved: what the password validators
    compare a password with."""
    return User(email=patient.email, full_name=patient.legal_name, role=Role.PATIENT)


def path_for(patient: Patient) -> str:
    """The invitation's address on this server (messages carry the absolute one)."""
    return reverse("accounts:invitation", args=[links.token_for(INVITE, patient)])


def message_context(
    patient: Patient,
    context: dict[str, str] | None = None,
    *,
    overrides: dict[tuple[str, str, str], tuple[str, str]] | None = None,
) -> dict[str, str]:
    """Merge tokens for a patient's messages: the invitation link, and a paragraph offering
    it in the patient's language (the practice may reword it; it may use the other tokens of
    `context`). Both are empty once the patient has an account, or when they have no email to
    sign in with: wording has no conditionals, and rendering collapses the blank lines an
    empty paragraph leaves. `overrides`: the practice's wording if the caller read it."""
    if not invitable(patient):
        return {"account_link": "", "account_invite": ""}
    link = links.url_for(INVITE, patient)
    _subject, text = notify.wording_for(
        practice=patient.practice,
        key=PARAGRAPH,
        channel=wording.EMAIL,
        language=patient.preferred_language,
        overrides=overrides,
    )
    paragraph = wording.render(text, {**(context or {}), "account_link": link})
    return {"account_link": link, "account_invite": paragraph}
