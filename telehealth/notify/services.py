"""Writing to the outbox. Sending (the dispatcher, channels, retries) is the notify worker's."""

from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from telehealth.notify.models import OutboundMessage


def message_enqueue(
    *,
    channel: str,
    template: str,
    body: str,
    dedupe_key: str,
    patient=None,
    staff=None,
    subject: str = "",
    send_at: datetime | None = None,
    related: models.Model | None = None,
) -> OutboundMessage | None:
    """Queue one message in the caller's transaction. A repeated dedupe key queues nothing
    and returns None, so a retried cause never sends twice."""
    try:
        with transaction.atomic():
            return OutboundMessage.objects.create(
                channel=channel,
                template=template,
                body=body,
                subject=subject,
                dedupe_key=dedupe_key,
                patient=patient,
                staff=staff,
                send_at=send_at or timezone.now(),
                related_type=related._meta.label if related is not None else "",
                related_id=str(related.pk) if related is not None else "",
            )
    except IntegrityError:
        if OutboundMessage.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise


def messages_cancel(*, related: models.Model, template_prefix: str = "") -> int:
    """Cancel queued messages about an object (say, reminders of a cancelled appointment)."""
    return OutboundMessage.objects.filter(
        related_type=related._meta.label,
        related_id=str(related.pk),
        status=OutboundMessage.Status.QUEUED,
        template__startswith=template_prefix,
    ).update(status=OutboundMessage.Status.CANCELLED)
