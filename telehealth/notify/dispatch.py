"""The outbox dispatcher: claim due rows under a lease, send each, record the result.

Claims use `SELECT ... FOR UPDATE SKIP LOCKED`, so workers never wait for each other, and
set a lease: a row whose worker died in `sending` is claimed again once the lease expires.
Each result is committed on its own, right after the provider accepted the message; a crash
between those two moments is the only way a message can go out twice."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from telehealth.notify.channels import (
    PermanentSendError,
    Sms,
    TransientSendError,
    send_email,
    send_sms,
)
from telehealth.notify.models import OutboundMessage, PhoneOptOut
from telehealth.notify.wording import SMS

logger = logging.getLogger(__name__)
Status = OutboundMessage.Status


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.suppressed


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def claim_due(*, batch_size: int, lease_seconds: int) -> list[OutboundMessage]:
    now = timezone.now()
    with transaction.atomic():
        due = (
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Status.QUEUED, send_at__lte=now)
                | Q(status=Status.SENDING, lease_expires_at__lt=now)
            )
            .order_by("send_at", "id")
            .values_list("pk", flat=True)[:batch_size]
        )
        ids = list(due)
        if not ids:
            return []
        OutboundMessage.objects.filter(pk__in=ids).update(
            status=Status.SENDING,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
    return list(
        OutboundMessage.objects.filter(pk__in=ids)
        .select_related("patient", "staff")
        .order_by("send_at", "id")
    )


def _finish(message: OutboundMessage, **values) -> None:
    """Record one result, only if this worker still holds the row's lease."""
    OutboundMessage.objects.filter(
        pk=message.pk, status=Status.SENDING, lease_expires_at=message.lease_expires_at
    ).update(**values)


def _address(message: OutboundMessage) -> str:
    if message.channel == SMS:
        return message.patient.phone if message.patient else ""
    if message.patient:
        return message.patient.email
    return message.staff.email if message.staff else ""


def _suppression(message: OutboundMessage) -> str:
    if message.channel != SMS:
        return ""
    patient = message.patient
    if patient is None or not patient.sms_consent:
        return "No consent to texts on record"
    if PhoneOptOut.objects.filter(phone_index=patient.phone_index).exists():
        return "Recipient opted out"
    return ""


def send_one(message: OutboundMessage, report: DispatchReport) -> None:
    attempts = message.attempts + 1
    reason = _suppression(message) or ("" if _address(message) else "No address on record")
    if reason:
        _finish(message, status=Status.SUPPRESSED, last_error=reason, attempts=attempts)
        report.suppressed += 1
        return
    try:
        if message.channel == SMS:
            provider_id = send_sms(
                Sms(to=_address(message), body=message.body, dedupe_key=message.dedupe_key)
            )
        else:
            provider_id = send_email(
                to=_address(message),
                subject=message.subject,
                body=message.body,
                html=message.html_body,
                ics=message.ics_attachment,
            )
    except PermanentSendError as exc:
        _finish(message, status=Status.FAILED, last_error=str(exc)[:300], attempts=attempts)
        report.failed += 1
    except TransientSendError as exc:
        if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            _finish(
                message,
                status=Status.FAILED,
                attempts=attempts,
                last_error=f"Gave up after {attempts} attempts: {exc}"[:300],
            )
            report.failed += 1
        else:
            _finish(
                message,
                status=Status.QUEUED,
                attempts=attempts,
                send_at=timezone.now() + backoff(attempts),
                last_error=str(exc)[:300],
            )
            report.retried += 1
    else:
        _finish(
            message,
            status=Status.SENT,
            provider_message_id=provider_id[:64],
            sent_at=timezone.now(),
            attempts=attempts,
            last_error="",
        )
        report.sent += 1


def dispatch_due(*, max_batches: int = 50) -> DispatchReport:
    """Send what is due, batch after batch, until nothing is due or max_batches ran."""
    report = DispatchReport()
    for _ in range(max_batches):
        batch = claim_due(
            batch_size=settings.OUTBOX_BATCH_SIZE, lease_seconds=settings.OUTBOX_LEASE_SECONDS
        )
        if not batch:
            break
        for message in batch:
            try:
                send_one(message, report)
            except Exception:  # one bad row must not stop the batch; its lease will expire
                logger.exception("Outbox message %s could not be dispatched", message.pk)
    return report
