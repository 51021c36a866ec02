"""Writes of people and access: each a transaction, audited, effects after commit."""

import hashlib
import logging
import secrets
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth import links
from telehealth.accounts import invitations, selectors
from telehealth.accounts.display import format_phone
from telehealth.accounts.models import (
    BreakGlassGrant,
    CareTeamMember,
    Patient,
    Practice,
    Role,
    User,
    new_security_stamp,
)
from telehealth.accounts.policy import forget_confirmed_device
from telehealth.accounts.validation import normalise_email
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify import services as notify
from telehealth.notify import wording
from telehealth.notify.inbound import practice_context

logger = logging.getLogger(__name__)

BACKUP_CODE_COUNT = 10


def patient_create(
    *,
    practice: Practice,
    legal_name: str,
    date_of_birth: date,
    phone: str = "",
    email: str = "",
    by: User | None = None,
    request=None,
    **fields,
) -> Patient:
    with transaction.atomic():
        patient = Patient(
            practice=practice, legal_name=legal_name.strip(), date_of_birth=date_of_birth, **fields
        )
        patient.set_contact(phone=phone, email=email)
        if patient.sms_consent and patient.sms_consent_at is None:
            patient.sms_consent_at = timezone.now()
        patient.full_clean(exclude=["phone", "email"])
        patient.save()
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=patient,
            request=request,
            detail="SMS opt-in at registration" if patient.sms_consent else "",
        )
    return patient


def patient_update(
    *,
    patient: Patient,
    legal_name: str,
    date_of_birth: date,
    phone: str = "",
    email: str = "",
    by: User | None = None,
    request=None,
    **fields,
) -> Patient:
    """Replace the demographics with these, under the rules patient_create applies (contact
    details normalised, with their blind indexes; the model's validation). The audit names
    the fields that changed, not their values."""
    with transaction.atomic():
        before = {name: getattr(patient, name) for name in ("phone", "email", *fields)}
        before |= {"legal_name": patient.legal_name, "date_of_birth": patient.date_of_birth}
        patient.legal_name, patient.date_of_birth = legal_name.strip(), date_of_birth
        for name, value in fields.items():
            setattr(patient, name, value)
        patient.set_contact(phone=phone, email=email)
        patient.full_clean(exclude=["phone", "email"])
        changed = sorted(name for name, value in before.items() if getattr(patient, name) != value)
        if not changed:
            return patient
        patient.save(
            update_fields=[
                *(n for n in changed if n not in ("phone", "email")),
                *(("phone", "phone_index") if "phone" in changed else ()),
                *(("email", "email_index") if "email" in changed else ()),
                "updated_at",
            ]
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=patient,
            request=request,
            detail=f"changed: {', '.join(changed)}",
        )
    return patient


def patient_match_or_create(
    *,
    practice: Practice,
    legal_name: str,
    date_of_birth: date,
    phone: str = "",
    email: str = "",
    by: User | None = None,
    request=None,
    **fields,
) -> tuple[Patient, bool]:
    """A returning patient is the one with this date of birth and this phone or email (matched
    through the blind indexes); otherwise a new record. Returns (patient, created)."""
    with transaction.atomic():
        existing = selectors.returning_patient(
            practice=practice, date_of_birth=date_of_birth, phone=phone, email=email
        )
        if existing is None:
            patient = patient_create(
                practice=practice,
                legal_name=legal_name,
                date_of_birth=date_of_birth,
                phone=phone,
                email=email,
                by=by,
                request=request,
                **fields,
            )
            return patient, True
        if fields.get("sms_consent") and not existing.sms_consent:
            existing.sms_consent, existing.sms_consent_at = True, timezone.now()
            existing.save(update_fields=["sms_consent", "sms_consent_at", "updated_at"])
            audit.record(
                action=Action.UPDATE,
                actor=by,
                obj=existing,
                request=request,
                detail="SMS opt-in (booking form)",
            )
        return existing, False


def patient_user_create(*, patient: Patient, password: str) -> User:
    """Give a patient a portal login under the email on their record."""
    with transaction.atomic():
        user = User.objects.create_user(
            patient.email, password, full_name=patient.legal_name, role=Role.PATIENT
        )
        patient.user = user
        patient.save(update_fields=["user", "updated_at"])
        audit.record(action=Action.UPDATE, actor=None, obj=patient, detail="portal login created")
    return user


class AccountError(Exception):
    """A portal account that cannot be created or offered, with a message saying why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def patient_account_create(*, patient: Patient, password: str, request=None) -> User:
    """A patient's own portal account, from their invitation: a patient login under the email
    on their record, linked to the record, and the invitation used up. All or nothing; the
    password is checked against the validators here too (ValidationError).

    The patient row is locked, so two submissions of the same invitation make one account;
    the unique email index is the backstop against another account taking the email."""
    user = invitations.unsaved_account(patient)
    password_validation.validate_password(password, user)
    # Hashed before the lock: Argon2 takes a while, and nobody need wait on the row for it.
    user.set_password(password)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().select_related("practice").get(pk=patient.pk)
        if patient.user_id is not None:
            raise AccountError(_("You already have an account. Sign in, or reset your password."))
        if not patient.email:
            raise AccountError(no_email_message(patient))
        if User.objects.with_email(patient.email).exists():
            raise AccountError(email_taken_message(patient))
        user.email, user.full_name = patient.email, patient.legal_name  # as locked
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise AccountError(email_taken_message(patient)) from None
        patient.user = user
        patient.save(update_fields=["user", "updated_at"])
        links.revoke(invitations.INVITE, patient)
        audit.record(
            action=Action.CREATE,
            actor=user,
            obj=user,
            patient=patient,
            request=request,
            detail="portal account created from an invitation",
        )
    return user


def _practice_phone(patient: Patient) -> str:
    return format_phone(patient.practice.phone, region=patient.practice.country)


def no_email_message(patient: Patient) -> str:
    return _(
        "We have no email address for you, and your email is how you sign in. Call "
        "%(practice)s on %(phone)s to add one; they can then send you an invitation."
    ) % {"practice": patient.practice.name, "phone": _practice_phone(patient)}


def email_taken_message(patient: Patient) -> str:
    return _(
        "Another account already signs in with the email on your record. Sign in with that "
        "account, or call %(practice)s on %(phone)s to use another email."
    ) % {"practice": patient.practice.name, "phone": _practice_phone(patient)}


def account_invitation_send(*, patient: Patient, by: User | None, request=None) -> str:
    """Email the patient an invitation to create their portal account, at the email on their
    record (the account's sign-in name: reading that mailbox is the proof the invitation asks
    for, so it never goes by text). Invitations sent before stop working. `by` is the staff
    member sending it, or None when the patient asked from their booking page. Returns the
    address written to; refuses (AccountError) when there is nothing to invite to."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().select_related("practice").get(pk=patient.pk)
        if patient.user_id is not None:
            raise AccountError(_("This patient already has a portal account."))
        if not patient.email:
            raise AccountError(
                _(
                    "There is no email on this patient's record, and the email is the "
                    "account's sign-in name. Add one to the record first."
                )
            )
        if invitations.email_taken(patient):
            raise AccountError(email_taken_message(patient))
        links.revoke(invitations.INVITE, patient)
        link = links.url_for(invitations.INVITE, patient)
        # Each invitation is a message of its own: the new link's digest tells them apart.
        digest = hashlib.sha256(link.encode()).hexdigest()[:24]
        message = notify.patient_message_enqueue(
            patient=patient,
            channel=wording.EMAIL,
            key="account.invitation",
            context={**practice_context(patient), "account_link": link},
            dedupe_key=f"account-invite:{patient.pk}:{digest}",
            related=patient,
        )
        if message is None:
            raise AccountError(_("The invitation could not be queued. Try again."))
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=patient,
            request=request,
            detail=(
                "portal account invitation sent by email"
                if by is not None
                else "portal account invitation sent by email, asked for from the booking page"
            ),
        )
    return patient.email


# What a practice admin may configure in the Django admin (scoped to their practice there).
PRACTICE_ADMIN_PERMISSIONS = [
    ("accounts", "practice", ["view", "change"]),
    ("accounts", "provider", ["view", "add", "change"]),
    ("accounts", "user", ["view", "add", "change"]),
    ("scheduling", "appointmenttype", ["view", "add", "change"]),
    ("scheduling", "availabilityrule", ["view", "add", "change", "delete"]),
    ("scheduling", "availabilityexception", ["view", "add", "change", "delete"]),
    ("scheduling", "reminderrule", ["view", "add", "change", "delete"]),
    ("notify", "messagetemplate", ["view", "add", "change", "delete"]),
    ("messaging", "savedreply", ["view", "add", "change", "delete"]),
    ("messaging", "team", ["view", "add", "change", "delete"]),
    ("messaging", "rule", ["view", "add", "change", "delete"]),
    ("messaging", "messagingsettings", ["view", "add", "change"]),
    ("rpm", "threshold", ["view", "add", "change", "delete"]),
    ("billing", "billingprofile", ["view", "add", "change"]),
    ("billing", "payer", ["view", "add", "change", "delete"]),
    ("billing", "feescheduleentry", ["view", "add", "change", "delete"]),
    ("smart", "smartclient", ["view", "add", "change"]),
    ("ehr", "ehrserver", ["view", "add", "change", "delete"]),
]


def staff_user_create(
    *, email: str, password: str, full_name: str, role: str, practice: Practice | None
) -> User:
    if role == Role.PATIENT:
        raise ValueError("Patients get logins through patient_user_create.")
    with transaction.atomic():
        user = User.objects.create_user(
            normalise_email(email),
            password,
            full_name=full_name,
            role=role,
            practice=practice,
            is_staff=role == Role.PRACTICE_ADMIN,
        )
        if role == Role.PRACTICE_ADMIN:
            user.user_permissions.add(*_practice_admin_permission_ids())
        audit.record(action=Action.CREATE, actor=None, obj=user, detail=f"staff: {role}")
    return user


def _practice_admin_permission_ids() -> list[int]:
    # One IN over the codenames, each row's app checked here: a Q per model ORed together took
    # the ORM about 4 ms to build and compile, the query itself 0.6 ms.
    wanted = {
        (app_label, f"{action}_{model}")
        for app_label, model, actions in PRACTICE_ADMIN_PERMISSIONS
        for action in actions
    }
    rows = Permission.objects.filter(
        codename__in={codename for _app_label, codename in wanted}
    ).values_list("pk", "content_type__app_label", "codename")
    return [pk for pk, app_label, codename in rows if (app_label, codename) in wanted]


def care_team_add(*, patient: Patient, clinician: User, reason: str, by: User | None) -> None:
    if clinician.role != Role.CLINICIAN or clinician.practice_id != patient.practice_id:
        raise ValueError("Only a clinician of the patient's practice joins the care team.")
    with transaction.atomic(savepoint=False):
        # One statement whether or not the pair is already linked: the unique constraint
        # skips an existing link (and one a concurrent transaction is adding, once it commits),
        # and only a row actually added comes back and is audited.
        table = CareTeamMember._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (patient_id, clinician_id, reason, created_at) "  # noqa: S608
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
                [
                    patient.pk,
                    clinician.pk,
                    reason,
                    connection.ops.adapt_datetimefield_value(timezone.now()),
                ],
            )
            if cursor.fetchone() is None:
                return
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=patient,
            detail=f"care team: added clinician #{clinician.pk} ({reason})",
        )


def break_glass_grant(*, clinician: User, patient: Patient, reason: str, request=None):
    """Open a chart outside the care team for BREAK_GLASS_MINUTES, and tell the admins."""
    reason = reason.strip()
    if len(reason) < 10:
        raise ValueError("Give the clinical reason in a sentence (at least 10 characters).")
    if clinician.role != Role.CLINICIAN or clinician.practice_id != patient.practice_id:
        raise ValueError("Only a clinician of the patient's practice may request access.")
    now = timezone.now()
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            clinician=clinician,
            patient=patient,
            reason=reason,
            granted_at=now,
            expires_at=now + timedelta(minutes=settings.BREAK_GLASS_MINUTES),
        )
        audit.record(
            action=Action.BREAK_GLASS,
            actor=clinician,
            obj=patient,
            request=request,
            detail=f"grant #{grant.pk} until {grant.expires_at:%H:%M} UTC",
        )
        transaction.on_commit(lambda: _alert_admins_of_break_glass(grant.pk))
    return grant


def _alert_admins_of_break_glass(grant_id: int) -> None:
    """Runs after commit: a mail failure is logged and never undoes or hides the grant."""
    try:
        _send_break_glass_alert(grant_id)
    except Exception:
        logger.exception("Could not email the emergency-access alert for grant %s", grant_id)


def _send_break_glass_alert(grant_id: int) -> None:
    grant = BreakGlassGrant.objects.select_related("clinician", "patient").get(pk=grant_id)
    admins = User.objects.filter(
        role=Role.PRACTICE_ADMIN, practice_id=grant.patient.practice_id, is_active=True
    ).values_list("email", flat=True)
    # No PHI in the email: it says who opened a chart and where to review it.
    send_mail(
        subject="Emergency chart access to review",
        message=(
            f"{grant.clinician.full_name} used emergency access to a patient chart at "
            f"{grant.granted_at:%Y-%m-%d %H:%M} UTC.\n\nReview it: "
            f"{settings.SITE_URL}{reverse('accounts:break-glass-review', args=[grant.pk])}\n"
        ),
        from_email=None,
        recipient_list=list(admins),
        fail_silently=False,
    )


def break_glass_review(*, grant: BreakGlassGrant, by: User, note: str, request=None):
    with transaction.atomic():
        grant.reviewed_by = by
        grant.reviewed_at = timezone.now()
        grant.review_note = note.strip()
        grant.save(update_fields=["reviewed_by", "reviewed_at", "review_note"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=grant,
            patient=grant.patient,
            request=request,
            detail="break-glass reviewed",
        )
    return grant


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed device to show as a QR code; reused until confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_device_confirm(*, user: User, device: TOTPDevice, token: str, request) -> list[str] | None:
    """Confirm enrolment with a first code. Returns fresh backup codes, or None if it failed.

    Other devices are removed and every other session of the user ends."""
    if device.user_id != user.pk or not device.verify_token(token):
        audit.record(action=Action.MFA_FAILED, actor=user, request=request, detail="enrolment")
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _replace_backup_codes(user)
        _end_other_sessions(user, request)
        audit.record(
            action=Action.UPDATE,
            actor=user,
            obj=user,
            request=request,
            detail="MFA device enrolled",
        )
    otp_login(request, device)
    return codes


def backup_codes_regenerate(*, user: User, request) -> list[str]:
    with transaction.atomic():
        codes = _replace_backup_codes(user)
        _end_other_sessions(user, request)
        audit.record(
            action=Action.UPDATE,
            actor=user,
            obj=user,
            request=request,
            detail="MFA backup codes regenerated",
        )
    return codes


def mfa_disable(*, user: User, request) -> None:
    """Patients may turn MFA off again; staff never can."""
    if user.is_staff_role:
        raise ValueError("Staff accounts must keep multi-factor authentication.")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        _end_other_sessions(user, request)
        audit.record(
            action=Action.UPDATE, actor=user, obj=user, request=request, detail="MFA turned off"
        )


def _replace_backup_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="Backup codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [f"{secrets.randbelow(10**8):08d}" for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def _end_other_sessions(user: User, request) -> None:
    forget_confirmed_device(user)  # every device change comes here
    user.security_stamp = new_security_stamp()
    user.save(update_fields=["security_stamp"])
    if request is not None and getattr(request, "user", None) == user:
        update_session_auth_hash(request, user)
