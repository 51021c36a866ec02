"""Secure messaging: threads between a patient and their practice, the messages in them
(patient-visible or internal staff notes), attachments, read positions, and the practice's
saved replies, rules and settings.

Message text, subjects and attachment names are encrypted. Search works on a blind index of
the words (HMAC of each normalised word), so staff can find threads without plaintext at rest."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, Practice, User
from telehealth.crypto.fields import EncryptedTextField


class Category(models.TextChoices):
    APPOINTMENT = "appointment", _("Appointment")
    REFILL = "refill", _("Prescription refill")
    BILLING = "billing", _("Billing")
    CLINICAL = "clinical", _("Clinical question")
    OTHER = "other", _("Other")


class Origin(models.TextChoices):
    PORTAL = "portal", _("Patient portal")
    SMS = "sms", _("Text message")
    WEB_CHAT = "web_chat", _("Website chat")
    STAFF = "staff", _("Started by staff")


class Team(models.Model):
    """A group threads can be assigned to (e.g. "Nurses", "Billing")."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=80)
    members = models.ManyToManyField(User, blank=True, related_name="messaging_teams")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "name"], name="team_name_per_practice")
        ]

    def __str__(self) -> str:
        return self.name


class Thread(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PENDING = "pending", _("Waiting on patient")
        CLOSED = "closed", _("Closed")

    class Priority(models.TextChoices):
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="threads")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="threads")
    subject = EncryptedTextField()
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.OTHER)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.PORTAL)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    urgent = models.BooleanField(default=False, help_text="Mentions an emergency symptom.")
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_threads"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="threads"
    )
    last_seq = models.PositiveIntegerField(default=0)  # the newest message's sequence number
    last_public_seq = models.PositiveIntegerField(default=0)  # the newest the patient can see
    last_message_at = models.DateTimeField(default=timezone.now)
    last_patient_seq = models.PositiveIntegerField(default=0)  # newest message from the patient
    created_at = models.DateTimeField(default=timezone.now)
    # When it was last closed (cleared on reopening): the inbox's resolution time.
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [
            # The inbox's default view: open work of a practice, urgent first, newest first.
            models.Index(
                fields=["practice", "-urgent", "-last_message_at"],
                condition=~models.Q(status="closed"),
                name="thread_inbox_open",
            ),
            models.Index(fields=["practice", "status", "-last_message_at"]),
            models.Index(fields=["patient", "-last_message_at"]),
        ]

    def __str__(self) -> str:
        return f"Thread #{self.pk}"


class Message(models.Model):
    class Author(models.TextChoices):
        PATIENT = "patient", _("Patient")
        STAFF = "staff", _("Staff")
        SYSTEM = "system", _("Automatic reply")

    class Via(models.TextChoices):
        PORTAL = "portal", _("Portal")
        SMS = "sms", _("Text message")
        WEB_CHAT = "web_chat", _("Website chat")

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()  # 1, 2, 3 … per thread: clients catch up by it
    # The patient's view skips internal notes: their client checks for gaps against this.
    prev_public_seq = models.PositiveIntegerField(default=0)
    author_kind = models.CharField(max_length=8, choices=Author.choices)
    author = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = EncryptedTextField()
    internal = models.BooleanField(default=False, help_text="A staff note the patient never sees.")
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.PORTAL)
    mentions = models.ManyToManyField(User, blank=True, related_name="message_mentions")
    sms = models.ForeignKey(
        "notify.OutboundMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["thread", "seq"], name="message_seq_per_thread"),
            models.CheckConstraint(
                condition=~models.Q(internal=True, author_kind="patient"),
                name="message_patients_write_no_internal_notes",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.thread_id}/{self.seq}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="messaging/%Y/%m/")  # the default storage encrypts
    name = EncryptedTextField()
    content_type = models.CharField(max_length=40)  # sniffed from the bytes, not the name
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Attachment #{self.pk}"


class MediaFetch(models.Model):
    """A picture a patient texted (MMS), fetched from Twilio after the webhook was answered:
    retried with backoff while the failure may pass, then attached to the message. One given
    up on stays here for staff to see and try again; nothing a patient sent is dropped."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being fetched")
        FETCHED = "fetched", _("Fetched")
        FAILED = "failed", _("Could not be fetched")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="media_fetches")
    position = models.PositiveSmallIntegerField()  # N of MediaUrl{N}
    url = EncryptedTextField()  # signed and specific to one patient's message: kept encrypted
    declared_type = models.CharField(max_length=100, blank=True)  # what Twilio said it is
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=300, blank=True)
    attachment = models.OneToOneField(
        Attachment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "position"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="media_fetch_once")
        ]

    def __str__(self) -> str:
        return f"Media {self.position} of message {self.message_id} ({self.status})"


class ReadPosition(models.Model):
    """How far someone has read a thread: read receipts and unread counts."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveIntegerField(default=0)
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["thread", "user"], name="read_position_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.thread_id} to {self.seq}"


class SearchTerm(models.Model):
    """The blind index of one word in a thread (subject or a message staff may read)."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="+")
    term = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["term", "thread"], name="search_term_once")]

    def __str__(self) -> str:
        return f"Search term of thread {self.thread_id}"


class SavedReply(models.Model):
    """A practice's shared reply template, with merge tokens such as {patient_first_name}."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="saved_replies")
    title = models.CharField(max_length=80)
    body = models.TextField(max_length=2000)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from telehealth.notify import wording

        try:
            wording.validate_template(channel=wording.EMAIL, subject="", body=self.body)
        except wording.TemplateError as error:
            raise ValidationError({"body": str(error)}) from error


class Rule(models.Model):
    """On a patient's new message containing any keyword: answer automatically, and/or set the
    thread's category, priority or assignee."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="message_rules")
    name = models.CharField(max_length=80)
    keywords = models.JSONField(default=list, help_text='Words or phrases, e.g. ["refill"].')
    reply = models.TextField(blank=True, max_length=600, help_text="Sent automatically.")
    set_category = models.CharField(max_length=12, choices=Category.choices, blank=True)
    set_priority = models.CharField(max_length=8, choices=Thread.Priority.choices, blank=True)
    set_assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name


DEFAULT_EMERGENCY_TERMS = [
    "chest pain",
    "can't breathe",
    "cannot breathe",
    "can not breathe",
    "trouble breathing",
    "suicidal",
    "suicide",
    "kill myself",
    "overdose",
    "stroke",
    "unconscious",
    "seizure",
    "severe bleeding",
    "dolor de pecho",
    "no puedo respirar",
    "suicidio",
]


class MessagingSettings(models.Model):
    practice = models.OneToOneField(
        Practice, on_delete=models.CASCADE, related_name="messaging_settings"
    )
    # The after-hours reply is the notification template "messaging.after_hours" (English and
    # Spanish built in; a practice overrides it like any other template).
    after_hours_reply_on = models.BooleanField(default=True)
    emergency_terms = models.JSONField(default=list, blank=True)
    emergency_number = models.CharField(max_length=20, default="911")
    website_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Sites allowed to embed the chat form, e.g. ["https://clinic.example.org"].',
    )

    class Meta:
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return f"Messaging settings of {self.practice}"

    @property
    def terms(self) -> list[str]:
        return self.emergency_terms or DEFAULT_EMERGENCY_TERMS
