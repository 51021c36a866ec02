"""Storing a device's upload: new readings inserted once, amended or corrected readings
replacing the values stored for them, readings the device withdraws (entered-in-error) moved
out of the live readings, and the rules run on what is new or changed; alerts only a
withdrawn or corrected value raised are closed. One upload is one database transaction: it
is written whole or not at all.

Entries take effect in their order: a reading withdrawn by a later entry of the same upload
is not stored. A transaction may not name one reading in two entries when one of them
withdraws or corrects it (FHIR: a transaction's entries must not depend on each other).
Identifiers are the sending device's: a device withdraws or corrects only its own readings."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from rpm import ingest
from rpm.models import Alert, Device, Enrollment, Reading, WithdrawnReading
from rpm.services import NewReading, device_limits, evaluate, forget_baselines
from telehealth.accounts.models import User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.fhir_subscriptions import services as fhir_notify
from telehealth.fhir_subscriptions.topics import OBSERVATION_CREATED


class Outcome:
    CREATED = "created"
    AMENDED = "amended"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    RETRACTED = "retracted"
    WITHDRAWN_LATER = "withdrawn_later"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    MALFORMED = "malformed"


FAILURES = (Outcome.REFUSED, Outcome.MALFORMED, Outcome.NOT_FOUND)


class ItemResult(NamedTuple):
    """What became of one item (a tuple: an upload answers for thousands)."""

    index: int  # type: ignore[assignment]  # the item's place in the upload, not tuple.index
    outcome: str
    reason: str = ""
    expression: str = ""


@dataclass
class Stored:
    """What an upload did: per item, and how many readings were new, already stored,
    amended or withdrawn. `written` is False when an all-or-nothing upload was refused and
    nothing was kept."""

    form: str
    bundle_type: str
    items: list[ItemResult]
    new: int = 0
    duplicates: int = 0
    amended: int = 0
    retracted: int = 0
    written: bool = True

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.items if r.outcome in FAILURES]


class _Abandon(Exception):
    """Rolls back an all-or-nothing upload that found a failure only while writing."""


_NOT_READ = object()


def monitoring_window(device: Device, now: datetime) -> ingest.Window:
    """Readings from the first active enrolment (or the device's creation, when the patient
    is not enrolled) less RPM_BACKFILL_DAYS, up to now. A device from
    services.device_for_token already carries its enrolment start (`enrolled_from`)."""
    start: Any = getattr(device, "enrolled_from", _NOT_READ)
    if start is _NOT_READ:
        start = Enrollment.objects.filter(patient_id=device.patient_id, is_active=True).aggregate(
            first=Min("start_date")
        )["first"]
    start = start or timezone.localdate(device.created_at)
    earliest = datetime.combine(start, time.min, tzinfo=UTC) - timedelta(
        days=settings.RPM_BACKFILL_DAYS
    )
    return ingest.Window(
        now=now, earliest=earliest, accept_preliminary=settings.RPM_ACCEPT_PRELIMINARY
    )


def device_label(device: Device) -> str:
    """Who did it, in the audit trail, when a device did it."""
    return f"device {device.pk}"


def upload_store(*, device: Device, payload, all_or_nothing: bool = False) -> Stored:
    """Store an upload (see rpm.ingest for its forms). With `all_or_nothing` (a FHIR
    transaction) any refused item keeps the whole upload out. Raises ingest.Rejected when
    the upload as a whole is unusable."""
    now = timezone.now()
    upload = ingest.parse(payload, window=monitoring_window(device, now))
    results: dict[int, ItemResult] = {}
    for item in upload.items:
        if item.refused is not None:
            failure = Outcome.MALFORMED if item.refused.in_entry else Outcome.REFUSED
            results[item.index] = ItemResult(
                item.index, failure, str(item.refused), item.refused.expression
            )
        elif item.ignored:
            results[item.index] = ItemResult(item.index, Outcome.IGNORED, item.ignored)
    if all_or_nothing:
        results.update(_interdependent(upload.items))
    stored = Stored(upload.form, upload.bundle_type, [])
    if all_or_nothing and any(r.outcome in FAILURES for r in results.values()):
        stored.items = [results[i] for i in sorted(results)]
        stored.written = False
        return stored
    withdrawn_later = _withdrawn_later(upload.items)
    for index in withdrawn_later:
        results[index] = ItemResult(
            index,
            Outcome.WITHDRAWN_LATER,
            "Not stored: a later entry of this upload withdraws it.",
        )
    kept = [item for item in upload.items if item.index not in withdrawn_later]
    try:
        with transaction.atomic():
            for item in upload.items:
                if item.retract:
                    results[item.index] = _retract(
                        device, item, sent_before=item.index in withdrawn_later.values()
                    )
                    if all_or_nothing and results[item.index].outcome == Outcome.NOT_FOUND:
                        raise _Abandon
                    stored.retracted += results[item.index].outcome == Outcome.RETRACTED
            parsed = [p for item in kept if not item.amends for p in item.readings]
            new = _insert(device, parsed)
            amendments = _amend(device, [item for item in kept if item.amends and item.readings])
            added = _insert(device, amendments.missing)
            if device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=1):
                Device.objects.filter(pk=device.pk).update(last_seen_at=now)
                device.last_seen_at = now
            # device_for_token found whether anyone subscribes (on PostgreSQL): else ask.
            if getattr(device, "observation_subscribed", True):
                fhir_notify.resources_changed(
                    practice_id=device.patient.practice_id,
                    topic=OBSERVATION_CREATED,
                    resource_ids=[r.pk for r in new + added],
                )
            if new or added or amendments.changed:
                evaluate(
                    patient=device.patient,
                    readings=new + added + amendments.changed,
                    actor_label=device_label(device),
                    limits=device_limits(device),
                )
            _close_unsupported_alerts(
                device,
                amendments.alerts,
                note=_("Closed: the reading that raised it was corrected."),
                detail="closed: its readings were corrected",
            )
    except _Abandon:
        stored.items = [r for i, r in sorted(results.items()) if r.outcome in FAILURES]
        stored.written = False
        return stored
    # The usual upload: every reading sent was stored new, so there is nothing to match.
    all_new = (
        len(new) == len(parsed)
        and len(added) == len(amendments.missing)
        and not amendments.changed_items
        and not amendments.unchanged
    )
    fresh = set() if all_new else {_key(r.vital, r.measured_at) for r in new + added}
    for item in kept:
        if not item.readings:
            continue
        if all_new:
            results[item.index] = ItemResult(item.index, Outcome.CREATED)
            continue
        keys = {_key(p.vital, p.measured_at) for p in item.readings}
        created = bool(keys & fresh)
        fresh -= keys  # a reading sent twice in one upload is new only the first time
        if item.index in amendments.changed_items:
            outcome = Outcome.AMENDED
        elif created:
            outcome = Outcome.CREATED
        else:
            outcome = Outcome.DUPLICATE
        results[item.index] = ItemResult(item.index, outcome)
    stored.items = [results[i] for i in sorted(results)]
    stored.new = len(new) + len(added)
    stored.duplicates = len(parsed) - len(new) + len(amendments.missing) - len(added)
    stored.duplicates += amendments.unchanged
    stored.amended = len(amendments.changed)
    return stored


def _interdependent(items: list[ingest.Item]) -> dict[int, ItemResult]:
    """Refusals for transaction entries that name a reading an earlier entry also names, when
    either withdraws or corrects it: their outcome would depend on the order of the entries."""
    first: dict[str, ingest.Item] = {}
    refused = {}
    for item in items:
        identifier = item.retract or next((p.identifier for p in item.readings), "")
        if not identifier:
            continue
        earlier = first.setdefault(identifier, item)
        if earlier is item:
            continue
        if item.retract or item.amends or earlier.retract or earlier.amends:
            refused[item.index] = ItemResult(
                item.index,
                Outcome.REFUSED,
                f"Observation.identifier: entry {earlier.index} of this transaction names the "
                "same reading; a transaction may not write one reading twice (send a batch, or "
                "separate uploads)",
                "Observation.identifier",
            )
    return refused


def _withdrawn_later(items: list[ingest.Item]) -> dict[int, int]:
    """Items whose readings a later item of the same upload withdraws: index -> index of the
    withdrawal. In entry order they would be stored, then withdrawn, so they are not stored."""
    withdrawals: dict[str, int] = {}
    found = {}
    for item in reversed(items):
        if item.retract:
            withdrawals[item.retract] = item.index
            continue
        identifier = next((p.identifier for p in item.readings), "")
        if identifier in withdrawals:
            found[item.index] = withdrawals[identifier]
    return found


def ingest_payload(*, device: Device, payload) -> dict:
    """The simple answer: how many readings were new, how many were already stored, how many
    were amended, how many were retracted, and each item not stored with the reason."""
    stored = upload_store(device=device, payload=payload)
    return {
        "accepted": stored.new,
        "duplicates": stored.duplicates,
        "amended": stored.amended,
        "retracted": stored.retracted,
        "rejected": [
            {"index": r.index, "reason": r.reason}
            for r in stored.items
            if r.outcome in (*FAILURES, Outcome.IGNORED, Outcome.WITHDRAWN_LATER)
        ],
    }


def _key(vital: str, moment: datetime) -> tuple[str, int]:
    return vital, round(moment.timestamp() * 1000)


def _retract(device: Device, item: ingest.Item, *, sent_before: bool) -> ItemResult:
    """Withdraw this device's readings with this identifier (its entered-in-error
    Observation) and close the open alerts that no other reading supports. The readings
    move to WithdrawnReading, so charts, rules and billing days no longer count them while
    the chart's record keeps them. `sent_before`: an earlier entry of the upload sent the
    reading and was not stored, so there may be nothing stored to withdraw."""
    readings = list(
        Reading.objects.select_for_update()
        .filter(device=device, identifier=item.retract)
        .order_by("pk")
    )
    if not readings and sent_before:
        return ItemResult(
            item.index,
            Outcome.RETRACTED,
            "Withdrawn: the reading with this identifier sent earlier in this upload was not "
            "stored.",
        )
    if not readings:
        return ItemResult(
            item.index,
            Outcome.NOT_FOUND,
            "Observation.identifier: this device has no stored reading with this identifier",
            "Observation.identifier",
        )
    ids = [reading.pk for reading in readings]
    raised = set(
        Alert.objects.filter(readings__in=ids)
        .exclude(status=Alert.Status.RESOLVED)
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    WithdrawnReading.objects.bulk_create(
        WithdrawnReading(
            former_reading_id=reading.pk,
            patient_id=reading.patient_id,
            device_id=reading.device_id,
            vital=reading.vital,
            value=reading.value,
            measured_at=reading.measured_at,
            received_at=reading.received_at,
            identifier=reading.identifier,
            withdrawn_at=now,
        )
        for reading in readings
    )
    for reading in readings:
        audit.record(
            action=Action.DELETE,
            obj=reading,
            patient=device.patient,
            actor_label=device_label(device),
            detail=f"entered in error: {reading.vital} {reading.value:g} at "
            f"{reading.measured_at.isoformat()}; kept as withdrawn",
        )
    Reading.objects.filter(pk__in=ids).delete()  # and their links to alerts
    forget_baselines(patient_id=device.patient_id, vitals={reading.vital for reading in readings})
    _close_unsupported_alerts(
        device,
        raised,
        note=_("Closed: the reading that raised it was entered in error."),
        detail="closed: its readings were entered in error",
    )
    return ItemResult(item.index, Outcome.RETRACTED)


@dataclass
class _Amendments:
    changed: list[NewReading] = field(default_factory=list)  # to run the rules on
    changed_items: set[int] = field(default_factory=set)
    unchanged: int = 0
    missing: list[ingest.Parsed] = field(default_factory=list)  # nothing to amend: new
    alerts: set[int] = field(default_factory=set)  # open alerts the old values were part of


def _amend(device: Device, items: list[ingest.Item]) -> _Amendments:
    """Replace the stored readings that amended or corrected Observations name. A reading
    leaves the open alerts it was part of; the caller runs the rules on the new values (which
    rejoin the episodes they still break) and then closes the alerts left without readings.
    Runs in the caller's transaction; the readings are locked."""
    done = _Amendments()
    for item in items:
        for parsed in item.readings:
            reading = _stored_for(device, parsed)
            if reading is None:
                done.missing.append(parsed)
                continue
            if reading.value == parsed.value and reading.measured_at == parsed.measured_at:
                done.unchanged += 1
                continue
            before = f"{reading.value:g}"
            if reading.measured_at != parsed.measured_at:
                before += f" at {reading.measured_at.isoformat()}"
            reading.value, reading.measured_at = parsed.value, parsed.measured_at
            reading.save(update_fields=["value", "measured_at"])
            forget_baselines(patient_id=device.patient_id, vitals=[reading.vital])
            audit.record(
                action=Action.UPDATE,
                obj=reading,
                patient=device.patient,
                actor_label=device_label(device),
                detail=f"amended: {reading.vital} {before} -> {reading.value:g} at "
                f"{reading.measured_at.isoformat()}",
            )
            joined = Alert.objects.filter(readings=reading).exclude(status=Alert.Status.RESOLVED)
            done.alerts.update(joined.values_list("pk", flat=True))
            Alert.readings.through.objects.filter(
                reading_id=reading.pk, alert_id__in=done.alerts
            ).delete()
            done.changed.append(
                NewReading(reading.pk, reading.vital, reading.value, reading.measured_at)
            )
            done.changed_items.add(item.index)
    return done


def _stored_for(device: Device, parsed: ingest.Parsed) -> Reading | None:
    """The reading of this device an amendment names: the one with its identifier, else
    the one of its vital and time. By time too when the identifier names several readings,
    or when moving the named one to the new time would land on another stored reading."""
    readings = Reading.objects.select_for_update().filter(device=device, vital=parsed.vital)
    at_time = readings.filter(measured_at=parsed.measured_at)
    named = list(readings.filter(identifier=parsed.identifier)[:2]) if parsed.identifier else []
    if len(named) == 1 and (named[0].measured_at == parsed.measured_at or not at_time.exists()):
        return named[0]
    return at_time.first()


def _close_unsupported_alerts(device: Device, alert_ids: set[int], *, note: str, detail: str):
    """Close those of these open alerts that no reading supports any more."""
    if not alert_ids:
        return
    supported = Alert.readings.through.objects.filter(alert_id__in=alert_ids).values("alert_id")
    alerts = (
        Alert.objects.select_for_update()
        .filter(pk__in=alert_ids)
        .exclude(status=Alert.Status.RESOLVED)
        .exclude(pk__in=supported)
        .order_by("pk")
    )
    now = timezone.now()
    for alert in alerts:
        alert.status = Alert.Status.RESOLVED
        alert.resolved_at = now
        alert.resolution_note = note
        alert.save(update_fields=["status", "resolved_at", "resolution_note"])
        audit.record(
            action=Action.UPDATE,
            obj=alert,
            patient=device.patient,
            actor_label=device_label(device),
            detail=detail,
        )


def _array(elements) -> str:
    """A PostgreSQL array literal of elements that need no quoting (vital names, numbers):
    one string to send instead of a list psycopg adapts element by element."""
    return "{" + ",".join(elements) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _insert(device: Device, parsed: list[ingest.Parsed]) -> list[NewReading]:
    """Insert, skipping readings already stored (same device, vital and time); returns the
    new ones. PostgreSQL: one INSERT ... ON CONFLICT DO NOTHING RETURNING over arrays (times
    travel as epoch seconds: float arrays cost far less to send than timestamp arrays; each
    array goes as one literal)."""
    if not parsed:
        return []
    now = timezone.now()
    if connection.vendor == "postgresql":
        identifiers = [p.identifier for p in parsed]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO rpm_reading (patient_id, device_id, vital, value, measured_at,
                                         received_at, identifier)
                SELECT %s, %s, v, x, to_timestamp(t), %s, coalesce(i, '')
                FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::text[]) AS u(v, x, t, i)
                ON CONFLICT (device_id, vital, measured_at) DO NOTHING
                RETURNING id, vital, value, extract(epoch FROM measured_at)
                """,
                [
                    device.patient_id,
                    device.pk,
                    now,
                    _array(p.vital for p in parsed),
                    _array(repr(p.value) for p in parsed),
                    _array(repr(p.measured_at.timestamp()) for p in parsed),
                    # Most uploads name no reading: an empty array, padded with NULLs by unnest.
                    _array(_quoted(i) for i in identifiers) if any(identifiers) else "{}",
                ],
            )
            return [
                NewReading(pk, vital, value, datetime.fromtimestamp(float(epoch), tz=UTC))
                for pk, vital, value, epoch in cursor.fetchall()
            ]
    new = []
    # Raw SQL skips the field's own conversion: without it SQLite would store "...+00:00",
    # which no ORM comparison on measured_at ever equals.
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for p in parsed:
            cursor.execute(
                "INSERT OR IGNORE INTO rpm_reading (patient_id, device_id, vital, value, "
                "measured_at, received_at, identifier) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "RETURNING id",
                [
                    device.patient_id,
                    device.pk,
                    p.vital,
                    p.value,
                    adapt(p.measured_at),
                    adapt(now),
                    p.identifier,
                ],
            )
            row = cursor.fetchone()
            if row:
                new.append(NewReading(row[0], p.vital, p.value, p.measured_at))
    return new


def observation_record(*, device: Device, resource: dict, by: User) -> list[Reading]:
    """One vital-sign Observation a user sends through the FHIR API for the device's
    patient, stored as the device's own upload would be (the rules run, alerts open) and
    audited as created by that user. Returns the new readings (two for a blood pressure
    panel, systolic first). Raises ingest.Rejected with the reason when nothing is stored:
    refused by ingestion, not a vital we monitor, already stored, or not a new result (an
    amendment or a withdrawal is the device's to send)."""
    status = resource.get("status")
    if status not in ("final", "preliminary"):
        raise ingest.Rejected(
            f"Observation.status: create a final result; {status!r} changes a stored one, "
            "which only the device that sent it does",
            "Observation.status",
        )
    with transaction.atomic():
        upload = ingest.parse(resource, window=monitoring_window(device, timezone.now()))
        item = upload.items[0]
        if item.refused is not None:
            raise item.refused
        if item.ignored:
            raise ingest.Rejected(item.ignored, "Observation.code")
        stored = upload_store(device=device, payload=resource, all_or_nothing=True)
        if stored.failed:
            raise ingest.Rejected(stored.failed[0].reason, stored.failed[0].expression)
        if stored.items[0].outcome != Outcome.CREATED:
            raise ingest.Rejected(
                "Observation: this reading is already stored (same device, vital and time)",
                "Observation.effective",
            )
        order = {vital: n for n, vital in enumerate(("systolic", "diastolic", "heart_rate"))}
        readings = sorted(
            Reading.objects.filter(
                device=device,
                vital__in=[p.vital for p in item.readings],
                measured_at=item.readings[0].measured_at,
            ),
            key=lambda reading: order.get(reading.vital, 0),
        )
        audit.record_many(
            action=Action.CREATE,
            actor=by,
            objects=[(reading, device.patient) for reading in readings],
            detail="recorded through the FHIR API",
        )
    return readings
