"""Storing a device's upload: new readings inserted once, readings the device withdraws
(entered-in-error) retracted with the alerts only they raised, and the rules run on what is
new. One upload is one database transaction: it is written whole or not at all."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from rpm import ingest
from rpm.models import Alert, Device, Enrollment, Reading
from rpm.services import NewReading, evaluate
from telehealth.audit import services as audit
from telehealth.audit.models import Action


class Outcome:
    CREATED = "created"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    RETRACTED = "retracted"
    NOT_FOUND = "not_found"
    REFUSED = "refused"


@dataclass(frozen=True)
class ItemResult:
    index: int
    outcome: str
    reason: str = ""
    expression: str = ""


@dataclass
class Stored:
    """What an upload did: per item, and how many readings were new or already stored.
    `written` is False when an all-or-nothing upload was refused and nothing was kept."""

    form: str
    bundle_type: str
    items: list[ItemResult]
    new: int = 0
    duplicates: int = 0
    retracted: int = 0
    written: bool = True

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.items if r.outcome in (Outcome.REFUSED, Outcome.NOT_FOUND)]


class _Abandon(Exception):
    """Rolls back an all-or-nothing upload that found a failure only while writing."""


def monitoring_window(device: Device, now: datetime) -> ingest.Window:
    """Readings from the first active enrolment (or the device's creation, when the patient
    is not enrolled) less RPM_BACKFILL_DAYS, up to now."""
    start = Enrollment.objects.filter(patient_id=device.patient_id, is_active=True).aggregate(
        first=Min("start_date")
    )["first"] or timezone.localdate(device.created_at)
    earliest = datetime.combine(start, time.min, tzinfo=UTC) - timedelta(
        days=settings.RPM_BACKFILL_DAYS
    )
    return ingest.Window(
        now=now, earliest=earliest, accept_preliminary=settings.RPM_ACCEPT_PRELIMINARY
    )


def upload_store(*, device: Device, payload, all_or_nothing: bool = False) -> Stored:
    """Store an upload (see rpm.ingest for its forms). With `all_or_nothing` (a FHIR
    transaction) any refused item keeps the whole upload out. Raises ingest.Rejected when
    the upload as a whole is unusable."""
    now = timezone.now()
    upload = ingest.parse(payload, window=monitoring_window(device, now))
    results: dict[int, ItemResult] = {}
    for item in upload.items:
        if item.refused is not None:
            results[item.index] = ItemResult(
                item.index, Outcome.REFUSED, str(item.refused), item.refused.expression
            )
        elif item.ignored:
            results[item.index] = ItemResult(item.index, Outcome.IGNORED, item.ignored)
    stored = Stored(upload.form, upload.bundle_type, [])
    if all_or_nothing and any(r.outcome == Outcome.REFUSED for r in results.values()):
        stored.items = [results[i] for i in sorted(results)]
        stored.written = False
        return stored
    try:
        with transaction.atomic():
            for item in upload.items:
                if item.retract:
                    results[item.index] = _retract(device, item)
                    if all_or_nothing and results[item.index].outcome == Outcome.NOT_FOUND:
                        raise _Abandon
                    stored.retracted += results[item.index].outcome == Outcome.RETRACTED
            parsed = upload.readings
            new = _insert(device, parsed)
            if device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=1):
                Device.objects.filter(pk=device.pk).update(last_seen_at=now)
                device.last_seen_at = now
            if new:
                evaluate(patient=device.patient, readings=new)
    except _Abandon:
        stored.items = [r for i, r in sorted(results.items()) if r.outcome == Outcome.NOT_FOUND]
        stored.written = False
        return stored
    fresh = {_key(r.vital, r.measured_at) for r in new}
    for item in upload.items:
        if item.readings:
            keys = {_key(p.vital, p.measured_at) for p in item.readings}
            created = bool(keys & fresh)
            fresh -= keys  # a reading sent twice in one upload is new only the first time
            results[item.index] = ItemResult(
                item.index, Outcome.CREATED if created else Outcome.DUPLICATE
            )
    stored.items = [results[i] for i in sorted(results)]
    stored.new, stored.duplicates = len(new), len(parsed) - len(new)
    return stored


def ingest_payload(*, device: Device, payload) -> dict:
    """The simple answer: how many readings were new, how many were already stored, how many
    were retracted, and each item not stored with the reason."""
    stored = upload_store(device=device, payload=payload)
    return {
        "accepted": stored.new,
        "duplicates": stored.duplicates,
        "retracted": stored.retracted,
        "rejected": [
            {"index": r.index, "reason": r.reason}
            for r in stored.items
            if r.outcome in (Outcome.REFUSED, Outcome.IGNORED, Outcome.NOT_FOUND)
        ],
    }


def _key(vital: str, moment: datetime) -> tuple[str, int]:
    return vital, round(moment.timestamp() * 1000)


def _retract(device: Device, item: ingest.Item) -> ItemResult:
    """Withdraw the patient's readings with this identifier (a device's entered-in-error
    Observation) and close the open alerts that no other reading supports. The readings are
    deleted, so charts, rules and billing days no longer count them; the audit trail keeps
    what they were."""
    readings = list(
        Reading.objects.select_for_update().filter(
            patient_id=device.patient_id, identifier=item.retract
        )
    )
    if not readings:
        return ItemResult(
            item.index,
            Outcome.NOT_FOUND,
            "Observation.identifier: no stored reading has this identifier",
            "Observation.identifier",
        )
    ids = [reading.pk for reading in readings]
    now = timezone.now()
    raised = Alert.readings.through.objects.filter(reading_id__in=ids).values("alert_id")
    alerts = (
        Alert.objects.select_for_update()
        .filter(pk__in=raised)
        .exclude(status=Alert.Status.RESOLVED)
        .order_by("pk")
    )
    for alert in alerts:
        if alert.readings.exclude(pk__in=ids).exists():
            continue
        alert.status = Alert.Status.RESOLVED
        alert.resolved_at = now
        alert.resolution_note = _("Closed: the reading that raised it was entered in error.")
        alert.save(update_fields=["status", "resolved_at", "resolution_note"])
        audit.record(
            action=Action.UPDATE,
            obj=alert,
            patient=device.patient,
            detail="closed: its readings were entered in error",
        )
    for reading in readings:
        audit.record(
            action=Action.DELETE,
            obj=reading,
            patient=device.patient,
            detail=f"entered in error: {reading.vital} {reading.value:g} at "
            f"{reading.measured_at.isoformat()} from device {device.pk}",
        )
    Reading.objects.filter(pk__in=ids).delete()
    return ItemResult(item.index, Outcome.RETRACTED)


def _insert(device: Device, parsed: list[ingest.Parsed]) -> list[NewReading]:
    """Insert, skipping readings already stored (same device, vital and time); returns the
    new ones. PostgreSQL: one INSERT ... ON CONFLICT DO NOTHING RETURNING over arrays (times
    travel as epoch seconds: float arrays cost far less to send than timestamp arrays)."""
    if not parsed:
        return []
    now = timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO rpm_reading (patient_id, device_id, vital, value, measured_at,
                                         received_at, identifier)
                SELECT %s, %s, v, x, to_timestamp(t), %s, i
                FROM unnest(%s::text[], %s::float8[], %s::float8[], %s::text[]) AS u(v, x, t, i)
                ON CONFLICT (device_id, vital, measured_at) DO NOTHING
                RETURNING id, vital, value, extract(epoch FROM measured_at)
                """,
                [
                    device.patient_id,
                    device.pk,
                    now,
                    [p.vital for p in parsed],
                    [p.value for p in parsed],
                    [p.measured_at.timestamp() for p in parsed],
                    [p.identifier for p in parsed],
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
