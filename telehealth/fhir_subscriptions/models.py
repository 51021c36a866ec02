"""Subscriptions of integrations to our change notifications, and their delivery outbox."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Practice, User
from telehealth.crypto.fields import EncryptedTextField


class NotificationSubscription(models.Model):
    """An endpoint of one practice's integration and the topics it hears about.

    `events_since_start` is the last event number given out; the service that numbers an
    event holds this row's lock, so numbers are gapless and in commit order."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ERROR = "error", _("Stopped after failed deliveries")

    practice = models.ForeignKey(
        Practice, on_delete=models.CASCADE, related_name="notification_subscriptions"
    )
    # The id in the notification's subscription reference: not the row id, which would tell
    # receivers how many subscriptions the server holds.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=120)
    endpoint = models.URLField(_("endpoint URL"), max_length=500)
    topics = models.JSONField(default=list)  # topic keys (telehealth.fhir_subscriptions.topics)
    secret = EncryptedTextField()  # HMAC signing key, shown to the admin once
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    events_since_start = models.PositiveBigIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["practice", "status"])]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One notification to POST: written in the transaction of the change it reports.

    Workers claim due rows with SELECT ... FOR UPDATE SKIP LOCKED under a lease, as
    telehealth.notify's outbox does. `body` holds the exact bytes sent, so a retry sends (and
    signs) the same notification."""

    class Kind(models.TextChoices):
        EVENT = "event-notification", _("Event")
        HANDSHAKE = "handshake", _("Test (handshake)")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        NotificationSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EVENT)
    # Events: the subscription's event number. A handshake carries no event: a random key.
    dedupe_key = models.CharField(max_length=200, unique=True)
    event_number = models.PositiveBigIntegerField(null=True, blank=True)
    topic = models.CharField(max_length=40, blank=True)
    focus = models.CharField(max_length=80, blank=True)  # "Appointment/12"
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    send_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_number"], name="fhir_delivery_event_once"
            )
        ]
        indexes = [models.Index(fields=["status", "send_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.focus or self.dedupe_key} ({self.status})"
