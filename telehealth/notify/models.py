"""The outbox, message templates, SMS opt-outs and inbound texts."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, Practice, User
from telehealth.crypto.fields import EncryptedJSONField, EncryptedTextField


class OutboundMessage(models.Model):
    """One message to send, written in the same transaction as its cause. The dispatcher
    claims due rows under a lease; a row whose lease expired in `sending` is claimed again."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SUPPRESSED = "suppressed", _("Suppressed")

    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound"
    )
    staff = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="outbound"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    template = models.CharField(max_length=80)
    subject = EncryptedTextField(blank=True)
    body = EncryptedTextField()
    html_body = EncryptedTextField(blank=True)
    ics_attachment = EncryptedTextField(blank=True)
    send_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    related_type = models.CharField(max_length=60, blank=True)
    related_id = models.CharField(max_length=64, blank=True)
    # Queued without subject and body: the dispatcher renders them when it sends, from the
    # related object's state then (an appointment's reminders, booked weeks ahead).
    render_at_send = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["send_at", "id"]
        indexes = [
            models.Index(fields=["status", "send_at"]),
            models.Index(fields=["related_type", "related_id"]),
            models.Index(fields=["provider_message_id"]),
            # The practice figures: messages due in a period, and when a template began.
            models.Index(fields=["send_at"], name="notify_outbound_send_at"),
            models.Index(fields=["template", "created_at"], name="notify_outbound_template_made"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient__isnull=False) | models.Q(staff__isnull=False),
                name="outbound_has_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} ({self.status})"


class MessageTemplate(models.Model):
    """A practice's wording for one message, channel and language; the built-in wording in
    telehealth/notify/wording.py applies where a practice has none."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="templates")
    key = models.CharField(max_length=80)
    channel = models.CharField(max_length=8, choices=OutboundMessage.Channel.choices)
    language = models.CharField(max_length=8, choices=[("en", "English"), ("es", "Español")])
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key", "channel", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "key", "channel", "language"],
                name="template_unique_per_practice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.channel}, {self.language})"


class PhoneOptOut(models.Model):
    """A number that texted STOP: nothing more is texted to it until it texts START."""

    phone_index = models.CharField(max_length=64, unique=True)
    opted_out_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=40)

    def __str__(self) -> str:
        return f"Opt-out {self.opted_out_at:%Y-%m-%d}"


class InboundMessage(models.Model):
    """A text received. `handled_by` says what answered it; "unrouted" ones wait for staff."""

    message_sid = models.CharField(max_length=64, unique=True)
    from_phone = EncryptedTextField()
    from_index = models.CharField(max_length=64, db_index=True)
    to_phone = models.CharField(max_length=20, blank=True)
    body = EncryptedTextField(blank=True)
    # Pictures sent with it (MMS), as Twilio listed them: [{"url": ..., "content_type": ...}].
    media = EncryptedJSONField(default=list, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    practice = models.ForeignKey(
        Practice, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    handled_by = models.CharField(max_length=40, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Inbound {self.message_sid}"


class StatusCallback(models.Model):
    """Each (message, status) delivery report once: a replayed callback has no second effect."""

    message_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=20)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message_sid", "status"], name="status_once"),
        ]

    def __str__(self) -> str:
        return f"{self.message_sid} {self.status}"


class RejectedWebhook(models.Model):
    """A webhook call refused for a missing or wrong signature."""

    path = models.CharField(max_length=200)
    ip = models.GenericIPAddressField(null=True, blank=True)
    reason = models.CharField(max_length=200)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.path} refused: {self.reason}"
