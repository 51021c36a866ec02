"""Registering subscriptions and queueing their notifications.

`resources_changed` is the one door for the apps: scheduling, visits and rpm call it inside
the transaction that changed the resource, so a notification row exists exactly when the
change was committed. The core imports none of them."""

import secrets
import uuid
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telehealth.accounts.models import Practice, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.fhir_subscriptions import notifications
from telehealth.fhir_subscriptions.endpoints import endpoint_problem
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription
from telehealth.fhir_subscriptions.topics import TOPICS

Status = NotificationSubscription.Status


# Our statuses in the Backport IG's subscription status codes.
FHIR_STATUS: dict[str, str] = {Status.ACTIVE: "active", Status.PAUSED: "off", Status.ERROR: "error"}


class SubscriptionError(Exception):
    pass


def subscription_create(
    *,
    practice: Practice,
    by: User,
    name: str,
    endpoint: str,
    topics: list[str],
    request=None,
) -> tuple[NotificationSubscription, str]:
    """Register an endpoint; returns the subscription and its signing secret, which is shown
    to the admin now and never again (it is stored encrypted)."""
    problem = endpoint_problem(endpoint)
    if problem:
        raise SubscriptionError(problem)
    unknown = [key for key in topics if key not in TOPICS]
    if unknown or not topics:
        raise SubscriptionError(_("Choose at least one of the listed topics."))
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        subscription = NotificationSubscription.objects.create(
            practice=practice,
            name=name.strip()[:120],
            endpoint=endpoint,
            topics=sorted(set(topics)),
            secret=secret,
            created_by=by,
        )
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=subscription,
            request=request,
            detail=f"FHIR notification endpoint registered: {subscription.endpoint}",
        )
    return subscription, secret


def subscription_set_status(
    *, subscription: NotificationSubscription, status: str, by: User, request=None
) -> NotificationSubscription:
    """Pause, or make active again (also after delivery failures stopped it). Events that
    happen while it is not active are not sent later: the receiver sees the gap in event
    numbers only if events are numbered, so numbering pauses too, and it reads what changed
    meanwhile through the API."""
    if status not in (Status.ACTIVE, Status.PAUSED):
        raise SubscriptionError(_("A subscription can only be paused or made active."))
    with transaction.atomic():
        subscription = NotificationSubscription.objects.select_for_update().get(pk=subscription.pk)
        subscription.status = status
        subscription.last_error = ""
        subscription.save(update_fields=["status", "last_error"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=subscription,
            request=request,
            detail=f"FHIR notification subscription {status}",
        )
    return subscription


def handshake_queue(*, subscription: NotificationSubscription, by: User, request=None) -> Delivery:
    """A test notification (type `handshake`, no event) through the same outbox, signature and
    retries as real ones: what the admin presses to check the receiver is ready."""
    now = timezone.now()
    with transaction.atomic():
        subscription = NotificationSubscription.objects.select_for_update().get(pk=subscription.pk)
        topic = TOPICS[subscription.topics[0]]
        status = notifications.status_parameters(
            subscription_key=str(subscription.key),
            topic_url=topic.url,
            kind=Delivery.Kind.HANDSHAKE,
            events_since_start=subscription.events_since_start,
            status=FHIR_STATUS[subscription.status],
        )
        bundle = notifications.notification_bundle(
            status=status, subscription_key=str(subscription.key), timestamp=now
        )
        delivery = Delivery.objects.create(
            subscription=subscription,
            kind=Delivery.Kind.HANDSHAKE,
            dedupe_key=f"handshake:{uuid.uuid4()}",
            topic=topic.key,
            body=notifications.body_of(bundle),
            send_at=now,
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=subscription,
            request=request,
            detail="FHIR notification test sent",
        )
        nudge_on_commit()
    return delivery


def resources_changed(*, practice_id: int, topic: str, resource_ids: Iterable[int]) -> int:
    """Queue one notification per (active subscription of the practice to `topic`, resource).

    Call inside the transaction that made the change: the rows commit or roll back with it.
    Subscriptions that match are locked (in id order, so two transactions never deadlock on
    them) to number their events in commit order; a practice with none costs one query."""
    ids = list(resource_ids)
    topic_def = TOPICS[topic]
    if not ids:
        return 0
    candidates = [
        pk
        for pk, topics in NotificationSubscription.objects.filter(
            practice_id=practice_id, status=Status.ACTIVE
        ).values_list("pk", "topics")
        if topic in topics
    ]
    if not candidates:
        return 0
    now = timezone.now()
    rows = []
    with transaction.atomic(savepoint=False):
        subscriptions = (
            NotificationSubscription.objects.select_for_update()
            .filter(pk__in=candidates, status=Status.ACTIVE)
            .order_by("pk")
        )
        for subscription in subscriptions:
            for resource_id in ids:
                subscription.events_since_start += 1
                number = subscription.events_since_start
                focus = f"{topic_def.resource_type}/{resource_id}"
                status = notifications.status_parameters(
                    subscription_key=str(subscription.key),
                    topic_url=topic_def.url,
                    kind=Delivery.Kind.EVENT,
                    events_since_start=number,
                    event_number=number,
                    timestamp=now,
                    focus=focus,
                )
                bundle = notifications.notification_bundle(
                    status=status,
                    subscription_key=str(subscription.key),
                    timestamp=now,
                    focus=focus,
                )
                rows.append(
                    Delivery(
                        subscription=subscription,
                        dedupe_key=f"event:{subscription.pk}:{number}",
                        event_number=number,
                        topic=topic,
                        focus=focus,
                        body=notifications.body_of(bundle),
                        send_at=now,
                        created_at=now,
                    )
                )
            subscription.save(update_fields=["events_since_start"])
        Delivery.objects.bulk_create(rows)
    if rows:
        nudge_on_commit()
    return len(rows)


def _nudge() -> None:
    from telehealth.fhir_subscriptions import tasks

    tasks.deliver_notifications.delay()


def nudge_on_commit() -> None:
    """Wake a worker after commit, once per transaction (beat delivers every few seconds)."""
    if any(entry[1] is _nudge for entry in connection.run_on_commit):
        return
    transaction.on_commit(_nudge)
