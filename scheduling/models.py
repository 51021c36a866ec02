"""Appointment types, provider availability, appointments, the waitlist and calendar feeds."""

import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, Practice, Provider, User
from telehealth.crypto.fields import EncryptedTextField


class Modality(models.TextChoices):
    VIDEO = "video", _("Video visit")
    PHONE = "phone", _("Phone visit")
    IN_PERSON = "in_person", _("In person")


REMOTE_MODALITIES = frozenset({Modality.VIDEO, Modality.PHONE})


def all_modalities() -> list[str]:
    return [m.value for m in Modality]


class AppointmentType(models.Model):
    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, related_name="appointment_types"
    )
    name = models.CharField(max_length=120)
    # Practice data, so not in the message catalogue: the practice enters the Spanish name.
    name_es = models.CharField(
        _("name in Spanish"),
        max_length=120,
        blank=True,
        help_text=_("Shown to patients reading in Spanish. Leave blank to show the name above."),
    )
    slug = models.SlugField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(default=20)
    modality = models.CharField(max_length=12, choices=Modality.choices, default=Modality.VIDEO)
    buffer_before_minutes = models.PositiveSmallIntegerField(default=0)
    buffer_after_minutes = models.PositiveSmallIntegerField(default=0)
    minimum_notice_minutes = models.PositiveIntegerField(default=120)
    booking_horizon_days = models.PositiveSmallIntegerField(default=60)
    bookable_online = models.BooleanField(default=True)
    default_cpt_code = models.CharField(max_length=5, blank=True)
    providers = models.ManyToManyField(Provider, related_name="appointment_types", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "slug"], name="type_slug_per_practice"),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gte=5, duration_minutes__lte=480),
                name="type_duration_sane",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str | None) -> str:
        """The name for a reader of `language`, the English name when none was entered."""
        if (language or "").startswith("es") and self.name_es:
            return self.name_es
        return self.name

    @property
    def translated_name(self) -> str:
        """The name in the active language (the request's, or an override's)."""
        return self.name_in(translation.get_language())

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class AvailabilityRule(models.Model):
    """Weekly hours in the provider's own time zone (wall-clock times, so DST is honoured)."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="rules")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField()
    end_time = models.TimeField()
    modalities = models.JSONField(default=all_modalities)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_time__gt=models.F("start_time")),
                name="rule_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class AvailabilityException(models.Model):
    """A change to the weekly hours on one local date: a day (or part) off, or extra hours."""

    class Kind(models.TextChoices):
        UNAVAILABLE = "unavailable", _("Not available")
        EXTRA = "extra", _("Extra hours")

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="exceptions")
    date = models.DateField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Empty times mean the whole day (only meaningful for UNAVAILABLE).
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    modalities = models.JSONField(default=all_modalities)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["provider", "date", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(start_time__isnull=True, end_time__isnull=True, kind="unavailable")
                    | models.Q(end_time__gt=models.F("start_time"))
                ),
                name="exception_times_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()}"


class Status(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CONFIRMED = "confirmed", _("Confirmed")
    CHECKED_IN = "checked_in", _("Checked in")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")
    RESCHEDULED = "rescheduled", _("Rescheduled")


# Appointments in these states hold their time; the exclusion constraint covers exactly these.
ACTIVE_STATUSES = ("booked", "confirmed", "checked_in", "in_progress")


class BookedVia(models.TextChoices):
    ONLINE = "online", _("Online")
    STAFF = "staff", _("Staff")
    SMS = "sms", _("Text message")
    WAITLIST = "waitlist", _("Waitlist offer")


def new_calendar_uid() -> str:
    """The iCalendar UID of a new visit: unique in the world (RFC 5545 3.8.4.7), on the site's
    host name (no port: a port is not part of a name, and the UID outlives any one port)."""
    return f"appointment-{uuid.uuid4().hex}@{urlsplit(settings.SITE_URL).hostname or 'localhost'}"


class Appointment(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="appointments")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, related_name="appointments"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    # The provider's time is held from start - buffer_before to end + buffer_after.
    blocked_start = models.DateTimeField(editable=False)
    blocked_end = models.DateTimeField(editable=False)
    modality = models.CharField(max_length=12, choices=Modality.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOOKED)
    booked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    booked_via = models.CharField(max_length=10, choices=BookedVia.choices)
    reason = EncryptedTextField(blank=True)
    cancel_reason = EncryptedTextField(blank=True)
    # Where the patient is during this visit (their answer when booking, else their record's
    # state): licensure for remote visits is judged against it, not against the record.
    patient_state = models.CharField(max_length=2, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    # A rescheduled visit is a new row replacing the old one, but for the patient's calendar
    # it is the same event moved: every row of a chain carries the first row's UID, and the
    # SEQUENCE goes up with each move and with the cancellation (RFC 5546 2.1.4, 2.1.5).
    calendar_uid = models.CharField(max_length=255, default=new_calendar_uid, editable=False)
    calendar_sequence = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start"]
        indexes = [
            models.Index(fields=["provider", "start"]),
            models.Index(fields=["patient", "start"]),
            models.Index(fields=["practice", "start"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="appointment_ends_after_start"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    blocked_start__lte=models.F("start"), blocked_end__gte=models.F("end")
                ),
                name="appointment_block_covers_visit",
            ),
        ]

    def __str__(self) -> str:
        return f"Appointment #{self.pk} {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class WaitlistEntry(models.Model):
    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        OFFERED = "offered", _("Offered")
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="waitlist")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="waitlist")
    appointment_type = models.ForeignKey(AppointmentType, on_delete=models.CASCADE)
    provider = models.ForeignKey(
        Provider,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Empty: any provider who offers the type.",
    )
    current_appointment = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The later appointment an earlier slot would replace.",
    )
    earliest = models.DateTimeField(default=timezone.now)
    latest = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Waitlist #{self.pk} ({self.state})"


class WaitlistOffer(models.Model):
    """A freed slot offered to waitlisted patients; the first to accept books it."""

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE)
    start = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Offer #{self.pk} {self.start:%Y-%m-%d %H:%M}"


def new_feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A provider's private ICS subscription. Regenerating the token revokes the old URL."""

    class Detail(models.TextChoices):
        INITIALS = "initials", _("Visit type and patient initials")
        TYPE_ONLY = "type_only", _("Visit type only")
        BUSY = "busy", _("Busy only")

    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, related_name="feed")
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    detail = models.CharField(max_length=10, choices=Detail.choices, default=Detail.INITIALS)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Calendar feed of {self.provider}"


class ReminderRule(models.Model):
    """One step of a practice's reminder plan, e.g. "24 hours before, by text"."""

    class Kind(models.TextChoices):
        REMINDER = "appointment.reminder", _("Reminder")
        JOIN_LINK = "appointment.join_link", _("Join link (video visits)")

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="reminder_rules")
    minutes_before = models.PositiveIntegerField()
    channel = models.CharField(max_length=8, choices=[("sms", _("Text")), ("email", _("Email"))])
    kind = models.CharField(max_length=40, choices=Kind.choices, default=Kind.REMINDER)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["practice", "-minutes_before"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "minutes_before", "channel", "kind"],
                name="reminder_rule_unique",
            ),
        ]

    def __str__(self) -> str:
        hours, minutes = divmod(self.minutes_before, 60)
        return f"{hours} h {minutes} min before, {self.channel}"


DEFAULT_REMINDER_PLAN = [
    (72 * 60, "email", ReminderRule.Kind.REMINDER),
    (24 * 60, "sms", ReminderRule.Kind.REMINDER),
    (24 * 60, "email", ReminderRule.Kind.REMINDER),
    (2 * 60, "sms", ReminderRule.Kind.REMINDER),
    (15, "sms", ReminderRule.Kind.JOIN_LINK),
]
