"""Recording audit events. `record` is the one way in; nothing updates or deletes events."""

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from telehealth.audit.models import Action, AuditEvent
from telehealth.net import client_address

GENESIS_HASH = "0" * 64
# Any constant works: it names the PostgreSQL advisory lock that serialises the chain's tail.
CHAIN_LOCK_ID = 0x7E1E_A0D1


def event_hash(event: AuditEvent) -> str:
    payload = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "role": event.role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "patient": event.patient_id,
        "detail": event.detail,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "previous_hash": event.previous_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_origin(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    ip = client_address(request)
    if ip:
        # The stored form must equal the hashed form (IPv6 is normalised on save).
        try:
            ip = models.GenericIPAddressField().to_python(ip)
        except ValidationError:
            ip = None
    return ip, request.META.get("HTTP_USER_AGENT", "")[:300]


def record(
    *,
    action: str,
    actor=None,
    obj: models.Model | None = None,
    patient=None,
    request=None,
    detail: str = "",
    actor_label: str = "",
) -> AuditEvent:
    """Append one event. Runs in the caller's transaction when there is one, so an event is
    never kept for a change that rolled back."""
    return record_many(
        action=action,
        actor=actor,
        objects=[(obj, patient)],
        request=request,
        detail=detail,
        actor_label=actor_label,
    )[0]


def record_many(
    *,
    action: str,
    actor=None,
    objects: list[tuple[models.Model | None, Any]],
    request=None,
    detail: str = "",
    actor_label: str = "",
) -> list[AuditEvent]:
    """Append one event per (object, patient), chained in order under one lock and written in
    one statement: a page listing fifty patients' records costs one round of the chain."""
    if action not in Action.values:
        raise ValueError(f"Unknown audit action: {action}")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    ip, user_agent = request_origin(request)
    # No savepoint: events are written whole or the caller's transaction fails with them.
    with transaction.atomic(savepoint=False):
        previous = _locked_chain_tail()
        now = timezone.now()
        events = []
        for obj, patient in objects:
            if patient is None and obj is not None:
                patient = _patient_of(obj)
            event = AuditEvent(
                occurred_at=now,
                actor=actor,
                actor_label=actor_label or (actor.audit_label if actor else ""),
                role=getattr(actor, "role", "") if actor else "",
                action=action,
                object_type=obj._meta.label if obj is not None else "",
                object_id=str(obj.pk) if obj is not None else "",
                patient=patient,
                detail=detail[:300],
                ip=ip,
                user_agent=user_agent,
                previous_hash=previous,
            )
            event.hash = previous = event_hash(event)
            events.append(event)
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
    return events


def _locked_chain_tail() -> str:
    """The newest event's hash, read while holding the chain lock until the transaction ends.

    Two writers must not both read the same tail. PostgreSQL: a transaction-scoped advisory
    lock, taken in its own statement first (a statement's snapshot is taken when it starts,
    so a read in the same statement as the lock could see a tail that is already stale).
    SQLite: IMMEDIATE transactions already hold the database's single write lock."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_ID])
        cursor.execute("SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    return row[0] if row else GENESIS_HASH


def _patient_of(obj: models.Model) -> Any:
    if obj._meta.label == "accounts.Patient":
        return obj
    return getattr(obj, "patient", None)


def verify_chain(*, batch_size: int = 2000) -> AuditEvent | None:
    """The first event whose hash or link does not hold, or None when the chain is intact."""
    previous = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size):
        if event.previous_hash != previous or event_hash(event) != event.hash:
            return event
        previous = event.hash
    return None
