"""The outbox: every message to send is a row written in the same transaction as its cause."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, User
from telehealth.crypto.fields import EncryptedTextField


class OutboundMessage(models.Model):
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
    send_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=200, unique=True)
    related_type = models.CharField(max_length=60, blank=True)
    related_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["send_at", "id"]
        indexes = [models.Index(fields=["status", "send_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(patient__isnull=False) | models.Q(staff__isnull=False),
                name="outbound_has_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.template} ({self.status})"
