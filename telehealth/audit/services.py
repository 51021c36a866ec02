"""Recording audit events. `record` is the one way in; nothing updates or deletes events."""

import hashlib
import ipaddress
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection, models, transaction
from django.db.models import Prefetch
from django.utils import timezone

from telehealth.accounts.models import Patient
from telehealth.audit.models import (
    SYSTEM_CHAIN,
    Action,
    AuditCheckpoint,
    AuditEvent,
    AuditSubject,
    chain_key,
    chain_parts,
)
from telehealth.net import client_address

GENESIS_HASH = "0" * 64
# Any constant works: with a chain's key it names the PostgreSQL advisory lock that serialises
# that chain's tail (the two-int form, so it never meets a one-int lock taken elsewhere).
CHAIN_LOCK_CLASS = 0x7E1E_A0D1
# The class of the locks of shards 1 and up (shard 0 keeps the class and key above).
SHARD_LOCK_CLASS = 0x7E1E_A0D2
MAX_SHARDS = 1024
HASH_VERSION = 2
LEGACY_HASH_VERSION = 1

Subject = tuple[str, str, int | None]


def event_hash(event: AuditEvent, subjects: list[Subject] | None = None) -> str:
    """The event's hash. Version 1 (events written before chains) covers the row alone;
    version 2 also covers its chain and its subjects, sorted, as (type, id, patient id)."""
    return hashlib.sha256(_canonical(event, subjects).encode()).hexdigest()


def _canonical(event: AuditEvent, subjects: list[Subject] | None) -> str:
    """What the hash covers, as ASCII JSON with sorted keys."""
    payload: dict[str, Any] = {
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
    if event.hash_version != LEGACY_HASH_VERSION:
        payload["version"] = event.hash_version
        payload["chain"] = event.chain
        payload["subjects"] = sorted(
            [list(s) for s in subjects or []], key=lambda s: (s[0], s[1], s[2] or 0)
        )
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


_IP_FIELD: models.GenericIPAddressField = models.GenericIPAddressField()


def _as_postgresql_writes_it(ip: str | None) -> str | None:
    """An IPv4-compatible IPv6 address (::/96 past ::1) as PostgreSQL's inet prints it, with
    its last 32 bits dotted ("::1.2.3.4", where Python and Django write "::102:304"): the event
    is hashed before it is stored, so the two forms must agree or the chain breaks there."""
    if not ip or ":" not in ip:
        return ip
    address = ipaddress.IPv6Address(ip)
    if int(address) >> 32 == 0 and int(address) >> 16:
        return f"::{ipaddress.IPv4Address(int(address))}"
    return ip


def request_origin(request) -> tuple[str | None, str]:
    if request is None:
        return None, ""
    ip = client_address(request)
    if ip:
        # The stored form must equal the hashed form (IPv6 is normalised on save).
        try:
            ip = _IP_FIELD.to_python(ip)
            if connection.vendor == "postgresql":
                ip = _as_postgresql_writes_it(ip)
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
    """Append one event about one record (or none). Runs in the caller's transaction when there
    is one, so an event is never kept for a change that rolled back."""
    return record_many(
        action=action,
        actor=actor,
        objects=[(obj, patient)],
        request=request,
        detail=detail,
        actor_label=actor_label,
    )


def record_many(
    *,
    action: str,
    actor=None,
    objects: list[tuple[models.Model | None, Any]],
    request=None,
    detail: str = "",
    actor_label: str = "",
) -> AuditEvent:
    """Append ONE event about every (object, patient) given: a page listing fifty patients'
    appointments is one event with fifty subjects, chained under its chain's lock: on
    PostgreSQL in one statement, elsewhere in two. Repeated subjects are listed once."""
    if action not in Action.values:
        raise ValueError(f"Unknown audit action: {action}")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    ip, user_agent = request_origin(request)
    subjects = _subjects(objects)
    practice_id, shard_key = _practice_of(actor, objects, subjects), _shard_key(actor, subjects)
    event = AuditEvent(
        hash_version=HASH_VERSION,
        actor=actor,
        actor_label=actor_label or (actor.audit_label if actor else ""),
        role=getattr(actor, "role", "") if actor else "",
        action=action,
        detail=detail[:300],
        ip=ip,
        user_agent=user_agent,
    )
    listed: list[Subject] = []
    if len(subjects) == 1:
        event.object_type, event.object_id, event.patient_id = subjects[0]
    else:
        listed = subjects
    if connection.vendor == "postgresql":
        event.chain = _chain_in_transaction(practice_id, shard_key)
        _append_in_one_statement(event, listed)
        return event
    # No savepoint: events are written whole or the caller's transaction fails with them.
    with transaction.atomic(savepoint=False):
        chain = event.chain = _chain_in_transaction(practice_id, shard_key)
        # A second event of this transaction in a chain links to the first without asking:
        # the chain's lock, held since the first, kept every other writer out.
        unit = _unit()
        event.previous_hash = _tail_written_in_transaction(chain, unit) or _locked_chain_tail(chain)
        event.occurred_at = timezone.now()
        event.hash = event_hash(event, listed)
        event.save(force_insert=True)
        if listed:
            _insert_subjects(event.pk, listed)
        transaction.on_commit(_ChainTail(chain, event.hash, unit))
    return event


# Stands for the previous hash in the canonical JSON sent to the database, which splits it
# there. The key and its quotes cannot occur inside a JSON string value (its quotes would be
# escaped), so the mark is found exactly once.
_TAIL_MARK = "x" * 64
_TAIL_AT = f'"previous_hash":"{_TAIL_MARK}"'


def _append_in_one_statement(event: AuditEvent, subjects: list[Subject]) -> None:
    """PostgreSQL: lock the event's chain, read its tail, hash and insert the event and its
    subjects, in one call of `audit_append` (migration 0008): one round trip, atomic by itself
    when no transaction is open, and within the caller's transaction when one is (its lock
    then held to the end of it, as before). Sets the event's id and hashes.

    `occurred_at` is taken before the lock is waited for (it is hashed, so the database
    cannot set it): within a chain, events are ordered by id, and a time may precede the one
    of the event before it by that wait."""
    event.occurred_at = timezone.now()
    event.previous_hash = _TAIL_MARK
    head, mark, tail = _canonical(event, subjects).partition(_TAIL_AT)
    if not mark:
        raise RuntimeError("the canonical form of an audit event no longer names previous_hash")
    types, ids, patients = (list(c) for c in zip(*subjects, strict=True)) if subjects else ([],) * 3
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_append(%s, %s, %s, %s, %s, %s::smallint, %s::timestamptz, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s::varchar[], %s::varchar[], "
            "%s::bigint[])",
            [
                *_lock_key(event.chain),
                event.chain,
                head + '"previous_hash":"',
                '"' + tail,
                event.hash_version,
                event.occurred_at,
                event.actor_id,
                event.actor_label,
                event.role,
                event.action,
                event.object_type,
                event.object_id,
                event.patient_id,
                event.detail,
                event.ip,
                event.user_agent,
                types,
                ids,
                patients,
            ],
        )
        event.pk, event.previous_hash, event.hash = cursor.fetchone()
    event._state.adding = False
    event._state.db = connection.alias


def _insert_subjects(event_id: int, subjects: list[Subject]) -> None:
    """SQLite: one statement for any number of subjects, without a model instance each
    (building those cost more than the insert: a page of thirty rows is thirty subjects)."""
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO audit_auditsubject (event_id, object_type, object_id, patient_id) "
            "VALUES (%s, %s, %s, %s)",
            [(event_id, *subject) for subject in subjects],
        )


def _subjects(objects: list[tuple[models.Model | None, Any]]) -> list[Subject]:
    """(type, id, patient id) of each record, in the order given, each once; a bare
    (None, None) names nothing."""
    seen: dict[Subject, None] = {}
    for obj, patient in objects:
        patient_id = getattr(patient, "pk", patient) if patient is not None else None
        if patient_id is None and obj is not None:
            patient_id = _patient_id_of(obj)
        if obj is None and patient_id is None:
            continue
        subject = (
            obj._meta.label if obj is not None else "",
            str(obj.pk) if obj is not None else "",
            patient_id,
        )
        seen.setdefault(subject, None)
    return list(seen)


def _patient_id_of(obj: models.Model) -> Any:
    if obj._meta.label == "accounts.Patient":
        return obj.pk
    if hasattr(obj, "patient_id"):
        return obj.patient_id
    patient = getattr(obj, "patient", None)
    return getattr(patient, "pk", None)


def chain_for(practice_id: int, key: int) -> int:
    """The chain a new event of this practice goes to: shard `key % AUDIT_CHAINS_PER_PRACTICE`.

    The rule for changing AUDIT_CHAINS_PER_PRACTICE: the setting only picks the chain of the
    events written from then on. Every event stores its chain, its hash covers it, and each
    writer links to the tail of the chain it writes to whatever the setting was when that tail
    was written; verification walks the chains found in the table, never the ones the setting
    would give. So raising it starts new chains (from the genesis hash) beside the old ones,
    lowering it leaves the chains above it complete and still verified, and a patient's events
    may then sit in several chains, which their accounting (by patient, not by chain) ignores."""
    shards = settings.AUDIT_CHAINS_PER_PRACTICE
    if not 1 <= shards <= MAX_SHARDS:
        raise ImproperlyConfigured(f"AUDIT_CHAINS_PER_PRACTICE must be 1 to {MAX_SHARDS}.")
    return chain_key(practice_id, key % shards)


class _ChainsHeld:
    """The chains whose locks the current transaction holds, by practice."""

    def __init__(self) -> None:
        self.by_practice: dict[int, int] = {}

    def forget(self) -> None:
        self.by_practice.clear()


def _chain_in_transaction(practice_id: int, key: int) -> int:
    """The chain for an event written inside a transaction: the practice's chain this
    transaction already locked, if any, else `chain_for`.

    A transaction that writes two events of one practice to two chains takes two locks, and
    two such transactions taking them in opposite orders (a biller's import touching a patient
    whose shard is the other biller's, and back) deadlock. Any chain of the practice is a valid
    home for its events, so later events follow the first. What this transaction holds is
    known by a commit hook: Django drops the hooks of a transaction (or savepoint) that rolls
    back, so a hook no longer queued means nothing is held."""
    held = getattr(connection, "_audit_chains_held", None)
    if held is None or not any(hook[1] == held.forget for hook in connection.run_on_commit):
        held = _ChainsHeld()
        setattr(connection, "_audit_chains_held", held)  # noqa: B010  # not a declared attribute
        transaction.on_commit(held.forget)
    chain = held.by_practice.get(practice_id)
    if chain is None:
        chain = held.by_practice[practice_id] = chain_for(practice_id, key)
    return chain


class _ChainTail:
    """An on-commit hook that does nothing: the hash of an event written to `chain` in the
    transaction `unit` names. Django drops the hooks of a savepoint that rolls back, with its
    events and the chain locks it took, so a tail still queued is an event that still stands,
    written under a lock still held."""

    __slots__ = ("chain", "hash", "unit")

    def __init__(self, chain: int, hash: str, unit: tuple) -> None:  # noqa: A002  # its field
        self.chain, self.hash, self.unit = chain, hash, unit

    def __call__(self) -> None:
        pass


def _unit() -> tuple:
    """What names the transaction the code is in: its outermost atomic block, passing over
    those a test wraps around it (as Django's durable check does), with the savepoint that
    block opened when it has one (a decorator's block is one object entered again and again).
    So a test sees what production sees: the events of one booking share their tail, the
    bookings of one test do not."""
    for depth, block in enumerate(connection.atomic_blocks):
        if not getattr(block, "_from_testcase", False):
            return (block, connection.savepoint_ids[depth - 1] if depth else None)
    return (None, None)


def _tail_written_in_transaction(chain: int, unit: tuple) -> str | None:
    """The hash of the last event this transaction wrote to `chain`, if it wrote one (the
    newest hooks are last: a run of events finds its tail at once)."""
    for queued in reversed(connection.run_on_commit):
        hook = queued[1]  # (savepoint ids, function, robust)
        if isinstance(hook, _ChainTail) and hook.chain == chain:
            return hook.hash if hook.unit[0] is unit[0] and hook.unit[1] == unit[1] else None
    return None


def _shard_key(actor, subjects: list[Subject]) -> int:
    """What spreads a practice's events over its chains: the patient the event is about when
    it is about one, else the actor (a staff member's page listing many patients), else 0."""
    patients = {subject[2] for subject in subjects}
    if len(patients) == 1:
        patient_id = patients.pop()
        if patient_id is not None:
            return patient_id
    return actor.pk if actor is not None else 0


def _practice_of(
    actor, objects: list[tuple[models.Model | None, Any]], subjects: list[Subject]
) -> int:
    """The practice the event belongs to: the acting staff member's; else that of the first
    record or patient that names one; else the signed-in patient's; else the system chain.
    Reads only what is already loaded, but for one last look-up of a patient's practice."""
    if actor is not None and getattr(actor, "practice_id", None):
        return actor.practice_id
    for obj, patient in objects:
        for thing in (patient, obj):
            if not isinstance(thing, models.Model):
                continue
            if thing._meta.label == "accounts.Practice":
                return thing.pk
            # A patient, a practice's record, or a record whose patient is already loaded.
            for holder in (thing, thing._state.fields_cache.get("patient")):
                practice_id = getattr(holder, "practice_id", None)
                if practice_id:
                    return practice_id
    patients = Patient.objects.filter(pk__in=[s[2] for s in subjects if s[2] is not None][:1])
    if not subjects and actor is not None and getattr(actor, "role", "") == "patient":
        patients = Patient.objects.filter(user=actor)
    return patients.values_list("practice_id", flat=True).first() or SYSTEM_CHAIN


def _lock_key(chain: int) -> tuple[int, int]:
    """The advisory lock (class, key) of a chain. Shard 0 keeps the lock its chain had before
    shards, so a process still running the code from before them waits for the same lock. The
    key is an int4: keys that meet only mean waiting, never a fork."""
    practice_id, shard = chain_parts(chain)
    if shard == 0:
        return CHAIN_LOCK_CLASS, chain % 2**31
    return SHARD_LOCK_CLASS, (practice_id * MAX_SHARDS + shard) % 2**31


def _locked_chain_tail(chain: int) -> str:
    """SQLite: the chain's newest event's hash. Two writers of one chain must not both read
    the same tail, and IMMEDIATE transactions already hold the database's single write lock.
    (PostgreSQL locks the chain alone, with a transaction-scoped advisory lock on (class,
    chain) taken in `audit_append`: writers of different chains never wait for each other.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hash FROM audit_auditevent WHERE chain = %s ORDER BY id DESC LIMIT 1", [chain]
        )
        row = cursor.fetchone()
    return row[0] if row else GENESIS_HASH


def chains() -> list[int]:
    """Every chain that has an event, in order: read from the events themselves, so no chain
    escapes verification, whichever code wrote it."""
    return distinct_chains(AuditEvent)


def distinct_chains(model: type[AuditEvent] | type[AuditCheckpoint]) -> list[int]:
    """The distinct `chain` values of the model's table, found by a skip scan of its index led
    by `chain`: one index descent per chain, where `SELECT DISTINCT` reads every row (millions
    of events for thousands of chains)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE found (chain) AS ("  # noqa: S608 (a model's own table name)
            f"SELECT MIN(chain) FROM {table} "
            f"UNION ALL SELECT (SELECT MIN(chain) FROM {table} WHERE chain > found.chain) "
            f"FROM found WHERE found.chain IS NOT NULL"
            f") SELECT chain FROM found WHERE chain IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def verify_chain(chain: int | None = None, *, batch_size: int = 2000) -> AuditEvent | None:
    """The first event of `chain` whose hash or link does not hold, or None when it is intact.
    Without a chain: the first broken link of any chain (the lowest id), or None."""
    if chain is None:
        broken = [event for event in verify_chains(batch_size=batch_size).values() if event]
        return min(broken, key=lambda event: event.pk) if broken else None
    previous = GENESIS_HASH
    events = (
        AuditEvent.objects.filter(chain=chain)
        .order_by("id")
        .prefetch_related(Prefetch("subjects", AuditSubject.objects.order_by("id")))
    )
    chained = False  # a version-2 event seen: no version-1 event may follow it
    for event in events.iterator(chunk_size=batch_size):
        subjects = [(s.object_type, s.object_id, s.patient_id) for s in event.subjects.all()]
        if event.previous_hash != previous or event_hash(event, subjects) != event.hash:
            return event
        if event.hash_version == LEGACY_HASH_VERSION:
            # Version 1 events exist only at the start of the system chain, without subjects:
            # anything else is an event written in the old form to escape the new hash.
            if subjects or chain != SYSTEM_CHAIN or chained:
                return event
        else:
            chained = True
        previous = event.hash
    return None


def verify_chains(*, batch_size: int = 2000) -> dict[int, AuditEvent | None]:
    """Each chain's first broken event, or None for each chain that is intact."""
    return {chain: verify_chain(chain, batch_size=batch_size) for chain in sorted(chains())}
