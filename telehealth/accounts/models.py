"""People and places: users with one role each, practices, providers, patients, care teams."""

import secrets
import zoneinfo
from datetime import date
from typing import Any

import phonenumbers
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.validation import (
    US_STATES,
    canonical_email,
    normalise_email,
    normalise_phone,
    validate_npi,
    validate_region,
    validate_time_zone,
)
from telehealth.crypto.fields import EncryptedJSONField, EncryptedTextField
from telehealth.crypto.keys import blind_index


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient")
    CLINICIAN = "clinician", _("Clinician")
    FRONT_DESK = "front_desk", _("Front desk")
    PRACTICE_ADMIN = "practice_admin", _("Practice admin")


STAFF_ROLES = frozenset({Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN})


class Practice(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    time_zone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_time_zone]
    )
    # Phone numbers written without a country code (patients', the practice's own) are read
    # as numbers of this country.
    country = models.CharField(
        max_length=2,
        default="US",
        validators=[validate_region],
        help_text="Two-letter country code, e.g. US, CA, GB.",
    )
    phone = models.CharField(
        max_length=32, help_text="E.164, e.g. +16175550100; an extension is kept as ;ext=12"
    )
    address = models.TextField(blank=True)
    # {"mon": [["08:00", "17:00"]], ...}: local opening hours, used for after-hours replies.
    business_hours = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def clean(self) -> None:
        """The phone as typed in the admin ("(617) 555-0100 x12") becomes E.164 in the
        practice's country, its extension kept."""
        if self.phone and self.country in phonenumbers.SUPPORTED_REGIONS:
            try:
                self.phone = normalise_phone(self.phone, self.country, extension=True)
            except ValidationError as error:
                raise ValidationError({"phone": error.messages}) from error


def email_index(email: str) -> str:
    """The blind index of an email: case, surrounding spaces and how the domain is spelled
    (Unicode or its punycode form) do not matter."""
    return blind_index(canonical_email(email))


class UserQuerySet(models.QuerySet["User"]):
    def with_email(self, email: str) -> "UserQuerySet":
        """The user signing in with this email (matched through the blind index)."""
        return self.filter(email_index=email_index(email))


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email_index=email_index(username or ""))

    async def aget_by_natural_key(self, username: str | None) -> "User":
        return await self.aget(email_index=email_index(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=normalise_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> "User":
        fields.setdefault("role", Role.PRACTICE_ADMIN)
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


def new_security_stamp() -> str:
    return secrets.token_hex(16)


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who logs in. Email is the login; one role decides what they may see.

    The email is encrypted; `email_index` (its blind index) is what sign-in, matching and
    uniqueness use. `save()` derives the index, so no way of writing a user can leave it stale."""

    email = EncryptedTextField(validators=[validate_email])
    email_index = models.CharField(max_length=64, unique=True, editable=False)
    full_name = models.CharField(max_length=200)
    role = models.CharField(max_length=20, choices=Role.choices)
    practice = models.ForeignKey(
        Practice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="staff",
        help_text="The practice a staff member works for (patients link through Patient).",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Rotated when the password or an MFA device changes; part of the session hash, so every
    # other session of the user ends at that moment.
    security_stamp = models.CharField(max_length=32, default=new_security_stamp)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]), name="user_role_valid"
            ),
        ]

    def __str__(self) -> str:
        # Not the email: this text is stored in plaintext (the admin's change log keeps it).
        return f"{self.full_name} (#{self.pk}, {self.get_role_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_index = email_index(self.email)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "email" in update_fields:
            kwargs["update_fields"] = {*update_fields, "email_index"}
        super().save(*args, **kwargs)

    @property
    def audit_label(self) -> str:
        """How the audit trail names this user: never by email."""
        return f"user #{self.pk} ({self.role})"

    def get_session_auth_hash(self) -> str:
        return salted_hmac(
            "telehealth.accounts.User.session",
            f"{self.password}:{self.security_stamp}",
            algorithm="sha256",
        ).hexdigest()

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinician(self) -> bool:
        return self.role == Role.CLINICIAN

    @property
    def is_front_desk(self) -> bool:
        return self.role == Role.FRONT_DESK

    @property
    def is_practice_admin(self) -> bool:
        return self.role == Role.PRACTICE_ADMIN

    @property
    def is_staff_role(self) -> bool:
        return self.role in STAFF_ROLES


class Provider(models.Model):
    """A clinician who sees patients: the scheduling and billing identity of a clinician user."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="provider")
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="providers")
    slug = models.SlugField(max_length=80)
    display_name = models.CharField(max_length=200, help_text='e.g. "Dr. Ana Ruiz, MD"')
    specialty = models.CharField(max_length=120, blank=True)
    npi = models.CharField("NPI", max_length=10, validators=[validate_npi])
    licensed_states = models.JSONField(default=list, help_text="Two-letter US state codes.")
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "slug"], name="provider_slug_per_practice"),
            models.UniqueConstraint(fields=["npi"], name="provider_npi_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        unknown = [s for s in self.licensed_states if s not in US_STATES]
        if unknown:
            raise ValidationError({"licensed_states": f"Unknown state codes: {', '.join(unknown)}"})

    def is_licensed_in(self, state: str) -> bool:
        return state.upper() in self.licensed_states


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Prefer not to say")


class Channel(models.TextChoices):
    SMS = "sms", _("Text message")
    EMAIL = "email", _("Email")
    PORTAL = "portal", _("Patient portal")


class Patient(models.Model):
    """A practice's patient. Contact details are encrypted; phone and email keep blind indexes
    so a returning patient is matched without decrypting every row."""

    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="patient"
    )
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="patients")
    # Names and date of birth stay searchable in SQL (staff search, matching); contact details
    # and address are encrypted.
    legal_name = models.CharField(max_length=200)
    preferred_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = EncryptedTextField(blank=True, help_text="Mobile, E.164")
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email = EncryptedTextField(blank=True)
    email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    address = EncryptedJSONField(default=dict, blank=True)
    state = models.CharField(max_length=2, blank=True, help_text="US state of residence")
    preferred_language = models.CharField(
        max_length=8, default="en", choices=[("en", "English"), ("es", "Español")]
    )
    preferred_channel = models.CharField(
        max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    sms_consent = models.BooleanField(default=False)
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["legal_name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sms_consent=False) | models.Q(sms_consent_at__isnull=False),
                name="patient_sms_consent_has_time",
            ),
        ]
        indexes = [models.Index(fields=["practice", "date_of_birth"])]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.preferred_name or self.legal_name

    @property
    def first_name(self) -> str:
        return self.preferred_name or self.legal_name.split(" ")[0]

    def age_on(self, day: date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def set_contact(self, *, phone: str = "", email: str = "") -> None:
        """Set phone and email in their canonical forms, with their blind indexes. The phone is
        read in the practice's country and is one we may text: no extension."""
        self.phone = normalise_phone(phone, self.practice.country) if phone else ""
        self.phone_index = blind_index(self.phone) if self.phone else ""
        self.email = normalise_email(email) if email else ""
        self.email_index = email_index(self.email) if self.email else ""


class CareTeamReason(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    APPOINTMENT = "appointment", _("Appointment")
    MONITORING = "monitoring", _("Remote monitoring")


class CareTeamMember(models.Model):
    """A clinician allowed to see a patient's clinical record, and why."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="care_team")
    clinician = models.ForeignKey(User, on_delete=models.CASCADE, related_name="care_of")
    reason = models.CharField(max_length=20, choices=CareTeamReason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinician", "reason"], name="care_team_member_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinician_id} cares for {self.patient_id} ({self.reason})"


class BreakGlassGrant(models.Model):
    """Emergency access by a clinician outside the care team: time-limited, audited, reviewed."""

    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="break_glass")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="break_glass")
    reason = EncryptedTextField()
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["clinician", "patient", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("granted_at")),
                name="break_glass_expires_after_grant",
            ),
        ]

    def __str__(self) -> str:
        return f"Emergency access #{self.pk} by {self.clinician_id} to {self.patient_id}"

    @property
    def is_active(self) -> bool:
        return self.expires_at > timezone.now()


class SignInBackoff(models.Model):
    """Failed sign-ins to one account from addresses it has not signed in from, and the lock
    they earned (telehealth.accounts.lockout). Deleted by the next successful sign-in."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, primary_key=True, related_name="sign_in_backoff"
    )
    failures = models.PositiveIntegerField(default=0)
    locks = models.PositiveIntegerField(default=0)  # locks set so far: each one lasts longer
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sign-in back-off for user {self.user_id}"


class SignInAddress(models.Model):
    """An address the account signed in from, and when last: such addresses are spared the
    per-account lock so that an attacker elsewhere cannot keep the user out."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_addresses")
    ip = models.GenericIPAddressField()
    last_success_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "ip"], name="sign_in_address_unique"),
        ]

    def __str__(self) -> str:
        return f"Sign-in address of user {self.user_id}"


class LinkVersion(models.Model):
    """The version of one object's no-login links of one kind (see telehealth.links): revoking
    bumps it, and links signed under an older version stop working. No row means version 1."""

    kind = models.CharField(max_length=50)
    object_id = models.PositiveBigIntegerField()
    version = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="link_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} v{self.version}"
