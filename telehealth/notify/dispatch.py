"""The outbox dispatcher: claim due rows under a lease, send each, record the result.

Claims use `SELECT ... FOR UPDATE SKIP LOCKED`, so workers never wait for each other, and
set a lease: a row whose worker died in `sending` is claimed again once the lease expires.
Each result is committed on its own, right after the provider accepted the message; a crash
between those two moments is the only way a message can go out twice."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Q
from django.utils import timezone

from telehealth.notify.channels import (
    PermanentSendError,
    Sms,
    TransientSendError,
    send_email,
    send_sms,
)
from telehealth.notify.models import OutboundMessage, PhoneOptOut
from telehealth.notify.services import NotToSend, render_for_send
from telehealth.notify.wording import SMS

logger = logging.getLogger(__name__)
Status = OutboundMessage.Status


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    suppressed: int = 0
    cancelled: int = 0  # rendered at send time, and its object said not to send

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.suppressed + self.cancelled


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
        # Only what sending needs: every other patient column would be decrypted for nothing.
        .only(
            *OUTBOX_FIELDS,
            "patient__phone",
            "patient__phone_index",
            "patient__email",
            "patient__sms_consent",
            "staff__email",
        )
        .order_by("send_at", "id")
    )


OUTBOX_FIELDS = [
    "id",
    "patient",
    "staff",
    "channel",
    "template",
    "subject",
    "body",
    "html_body",
    "ics_attachment",
    "send_at",
    "status",
    "lease_expires_at",
    "attempts",
    "dedupe_key",
    "render_at_send",
    "related_type",
    "related_id",
]

# Written back as rendered at send time, so the row shows what went out; encrypted as stored.
RENDERED_FIELDS = ("subject", "body", "html_body", "ics_attachment")


def _finish(message: OutboundMessage, **values) -> None:
    """Record one result, only if this worker still holds the row's lease.

    Plain SQL: this runs once per message and is the dispatcher's hottest statement."""

    def adapt(value):
        if isinstance(value, datetime):
            return connection.ops.adapt_datetimefield_value(value)
        return value

    if message.render_at_send:
        for name in RENDERED_FIELDS:
            field = OutboundMessage._meta.get_field(name)
            assert isinstance(field, Field)
            values[name] = field.get_db_prep_save(getattr(message, name), connection)
    table = OutboundMessage._meta.db_table
    assignments = ", ".join(f"{connection.ops.quote_name(column)} = %s" for column in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} "  # noqa: S608 (column names are ours)
            "WHERE id = %s AND status = %s AND lease_expires_at = %s",
            [
                *map(adapt, values.values()),
                message.pk,
                Status.SENDING,
                adapt(message.lease_expires_at),
            ],
        )


def _address(message: OutboundMessage) -> str:
    if message.channel == SMS:
        return message.patient.phone if message.patient else ""
    if message.patient:
        return message.patient.email
    return message.staff.email if message.staff else ""


def _suppression(message: OutboundMessage, opted_out: set[str]) -> str:
    if message.channel != SMS:
        return ""
    patient = message.patient
    if patient is None or not patient.sms_consent:
        return "No consent to texts on record"
    if patient.phone_index in opted_out:
        return "Recipient opted out"
    return ""


def opted_out_among(batch: list[OutboundMessage]) -> set[str]:
    indexes = {m.patient.phone_index for m in batch if m.channel == SMS and m.patient}
    return set(
        PhoneOptOut.objects.filter(phone_index__in=indexes).values_list("phone_index", flat=True)
    )


def send_one(
    message: OutboundMessage, report: DispatchReport, opted_out: set[str] | None = None
) -> None:
    attempts = message.attempts + 1
    if opted_out is None:
        opted_out = opted_out_among([message])
    reason = _suppression(message, opted_out) or (
        "" if _address(message) else "No address on record"
    )
    if reason:
        _finish(message, status=Status.SUPPRESSED, last_error=reason, attempts=attempts)
        report.suppressed += 1
        return
    if message.render_at_send:
        try:
            render_for_send(message)
        except NotToSend as exc:
            _finish(message, status=Status.CANCELLED, last_error=str(exc)[:300], attempts=attempts)
            report.cancelled += 1
            return
        except Exception as exc:  # e.g. a practice's wording that no longer renders
            logger.exception("Outbox message %s could not be rendered", message.pk)
            _retry_or_fail(message, attempts, f"Could not be rendered: {exc!r}", report)
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
        _retry_or_fail(message, attempts, str(exc), report)
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


def _retry_or_fail(
    message: OutboundMessage, attempts: int, error: str, report: DispatchReport
) -> None:
    """Queued again after a backoff, or failed for good once the attempts run out."""
    if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        _finish(
            message,
            status=Status.FAILED,
            attempts=attempts,
            last_error=f"Gave up after {attempts} attempts: {error}"[:300],
        )
        report.failed += 1
    else:
        _finish(
            message,
            status=Status.QUEUED,
            attempts=attempts,
            send_at=timezone.now() + backoff(attempts),
            last_error=error[:300],
        )
        report.retried += 1


def dispatch_due(*, max_batches: int = 50) -> DispatchReport:
    """Send what is due, batch after batch, until nothing is due or max_batches ran."""
    report = DispatchReport()
    for _ in range(max_batches):
        batch = claim_due(
            batch_size=settings.OUTBOX_BATCH_SIZE, lease_seconds=settings.OUTBOX_LEASE_SECONDS
        )
        if not batch:
            break
        opted_out = opted_out_among(batch)
        for message in batch:
            lease = message.lease_expires_at  # set by claim_due
            if lease is None or lease <= timezone.now():
                break  # too slow: another worker may own these now; they will be retried
            try:
                send_one(message, report, opted_out)
            except Exception:  # one bad row must not stop the batch; its lease will expire
                logger.exception("Outbox message %s could not be dispatched", message.pk)
    return report
