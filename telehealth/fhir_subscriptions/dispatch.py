"""Delivering notifications: claim due rows under a lease, POST each, record the result.

The same pattern as telehealth.notify.dispatch: `SELECT ... FOR UPDATE SKIP LOCKED` so
workers never wait for each other, a lease so a row whose worker died in `sending` is claimed
again, and each result committed only while the lease still holds. Network errors, 5xx and
429 are retried with backoff; any other answer outside 2xx is final. After
FHIR_NOTIFY_MAX_ATTEMPTS the row fails and its subscription stops (status `error`) until an
admin makes it active again (its waiting events then go out)."""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from telehealth.fhir_subscriptions import notifications
from telehealth.fhir_subscriptions.endpoints import endpoint_problem
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription

logger = logging.getLogger(__name__)
Status = Delivery.Status


@dataclass
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def claim_due(*, batch_size: int, lease_seconds: int) -> list[Delivery]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                Q(status=Status.QUEUED, send_at__lte=now)
                | Q(status=Status.SENDING, lease_expires_at__lt=now)
            )
            # Events wait while their subscription is paused or stopped, and go out once it
            # is active again; a test notification goes out whatever the status.
            .filter(
                Q(subscription__status=NotificationSubscription.Status.ACTIVE)
                | Q(kind=Delivery.Kind.HANDSHAKE)
            )
            .order_by("send_at", "id")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(
            status=Status.SENDING, lease_expires_at=now + timedelta(seconds=lease_seconds)
        )
    return list(
        Delivery.objects.filter(pk__in=ids).select_related("subscription").order_by("send_at", "id")
    )


def _finish(delivery: Delivery, **values) -> bool:
    """Record one result, only if this worker still holds the row's lease."""
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, status=Status.SENDING, lease_expires_at=delivery.lease_expires_at
        ).update(**values)
    )


class _Failed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retry(_Failed):
    """Worth another attempt: the network, a timeout, 429 or 5xx."""


class _Final(_Failed):
    """Another attempt would get the same answer."""


def _post(delivery: Delivery) -> int:
    """POST the stored body, signed now. Answers the status code of a 2xx; raises _Retry or
    _Final otherwise."""
    subscription = delivery.subscription
    # Again at each send: the name may resolve elsewhere than it did at registration.
    problem = endpoint_problem(subscription.endpoint)
    if problem:
        raise _Final(problem)
    body = delivery.body.encode()
    sent_at = int(time.time())
    headers = {
        "Content-Type": notifications.CONTENT_TYPE,
        "Accept": notifications.CONTENT_TYPE,
        notifications.SIGNATURE_HEADER: notifications.signature(
            secret=subscription.secret, timestamp=sent_at, body=body
        ),
        "X-Telehealth-Delivery": delivery.dedupe_key,
        "User-Agent": "telehealth-fhir-notifications",
    }
    timeout = settings.FHIR_NOTIFY_TIMEOUT_SECONDS
    try:
        # No redirects: one would lead the request to an address nobody checked.
        response = requests.post(
            subscription.endpoint,
            data=body,
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise _Retry(
            f"{type(exc).__name__} reaching {urlsplit(subscription.endpoint).hostname}"
        ) from exc
    response.close()
    code = response.status_code
    if 200 <= code < 300:
        return code
    if code >= 500 or code == 429:
        raise _Retry(f"HTTP {code}", code)
    raise _Final(f"HTTP {code}", code)


def _stop_subscription(delivery: Delivery, reason: str) -> None:
    NotificationSubscription.objects.filter(
        pk=delivery.subscription_id, status=NotificationSubscription.Status.ACTIVE
    ).update(status=NotificationSubscription.Status.ERROR, last_error=reason[:300])


def deliver_one(delivery: Delivery, report: DeliveryReport) -> None:
    attempts = delivery.attempts + 1
    try:
        code = _post(delivery)
    except _Final as exc:
        reason = str(exc)[:300]
        with transaction.atomic():
            if _finish(
                delivery,
                status=Status.FAILED,
                attempts=attempts,
                response_status=exc.status,
                last_error=reason,
            ):
                _stop_subscription(delivery, reason)
        report.failed += 1
    except _Retry as exc:
        status = exc.status
        if attempts >= settings.FHIR_NOTIFY_MAX_ATTEMPTS:
            reason = f"Gave up after {attempts} attempts: {exc}"[:300]
            with transaction.atomic():
                if _finish(
                    delivery,
                    status=Status.FAILED,
                    attempts=attempts,
                    response_status=status,
                    last_error=reason,
                ):
                    _stop_subscription(delivery, reason)
            report.failed += 1
        else:
            _finish(
                delivery,
                status=Status.QUEUED,
                attempts=attempts,
                response_status=status,
                send_at=timezone.now() + backoff(attempts),
                last_error=str(exc)[:300],
            )
            report.retried += 1
    else:
        _finish(
            delivery,
            status=Status.DELIVERED,
            attempts=attempts,
            response_status=code,
            delivered_at=timezone.now(),
            last_error="",
        )
        report.delivered += 1


def deliver_due(*, max_batches: int = 20) -> DeliveryReport:
    """Deliver what is due, batch after batch, until nothing is due or max_batches ran."""
    report = DeliveryReport()
    for _ in range(max_batches):
        batch = claim_due(
            batch_size=settings.OUTBOX_BATCH_SIZE, lease_seconds=settings.OUTBOX_LEASE_SECONDS
        )
        if not batch:
            break
        for delivery in batch:
            lease = delivery.lease_expires_at
            if lease is None or lease <= timezone.now():
                break  # too slow: another worker may own these now; they will be retried
            try:
                deliver_one(delivery, report)
            except Exception:  # one bad row must not stop the batch; its lease will expire
                logger.exception("FHIR notification %s could not be delivered", delivery.pk)
    return report
