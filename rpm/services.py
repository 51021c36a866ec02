"""Writes of remote monitoring: enrolment, devices and their tokens, ingestion with the rules
run on what is new, alerts (one per episode; critical ones pushed live and emailed to the
assigned clinicians, escalated when not acknowledged), missed readings, time logs."""

import hashlib
import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from rpm import rules
from rpm.models import Alert, Baseline, Device, Enrollment, Reading, TimeLog
from rpm.vitals import CANONICAL
from telehealth.accounts.models import Patient, Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify import services as notify
from telehealth.realtime import broadcast_on_commit, user_group

UNITS = CANONICAL


class RpmError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- Enrolment and devices ------------------------------------------------------------------


def enroll(*, patient: Patient, program: str, clinicians, by: User, escalation_contact=None):
    from telehealth.accounts.models import CareTeamReason
    from telehealth.accounts.services import care_team_add

    for person in [*clinicians, escalation_contact]:
        if person is not None and (
            person.role != Role.CLINICIAN or person.practice_id != patient.practice_id
        ):
            raise RpmError(_("Only clinicians of the patient's practice can monitor them."))
    with transaction.atomic():
        enrollment, created = Enrollment.objects.get_or_create(
            patient=patient,
            program=program,
            is_active=True,
            defaults={"consent_at": timezone.now(), "escalation_contact": escalation_contact},
        )
        enrollment.clinicians.add(*clinicians)
        for clinician in clinicians:
            care_team_add(
                patient=patient, clinician=clinician, reason=CareTeamReason.MONITORING, by=by
            )
        audit.record(
            action=Action.CREATE if created else Action.UPDATE,
            actor=by,
            obj=enrollment,
            patient=patient,
            detail=f"enrolled in {program}",
        )
    return enrollment


def device_create(*, patient: Patient, kind: str, by: User, manufacturer="", serial="") -> tuple:
    """A device and its token. The token is returned once; only its hash is kept."""
    token = "rpm_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        device = Device.objects.create(
            patient=patient,
            kind=kind,
            manufacturer=manufacturer[:80],
            serial=serial[:80],
            token_hash=_hash(token),
            token_hint=token[:8],
        )
        audit.record(
            action=Action.CREATE, actor=by, obj=device, patient=patient, detail="device added"
        )
    return device, token


def device_revoke(*, device: Device, by: User) -> None:
    with transaction.atomic():
        Device.objects.filter(pk=device.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=device,
            patient=device.patient,
            detail="device token revoked",
        )


def device_for_token(token: str) -> Device | None:
    """The device a token names, unless revoked, read fresh on every upload so a revocation
    takes effect at once. One query also brings the patient's practice and the start of their
    first active enrolment (`device.enrolled_from`, None when not enrolled): what ingestion
    needs before it writes. On PostgreSQL it brings the rest too: the limits in force
    (`device.limits`, see device_limits) and whether the practice has an active subscription
    to new observations (`device.observation_subscribed`), so an upload's transaction only
    writes. The patient's other fields, PHI among them, load only if read."""
    if not token or len(token) > 200:
        return None
    postgres = connection.vendor == "postgresql"
    query = _DEVICE_BY_TOKEN_POSTGRES if postgres else _DEVICE_BY_TOKEN
    device = next(iter(Device.objects.raw(query, [_hash(token)])), None)
    if device is None:
        return None
    extra = vars(device)  # the columns the query adds to the device's own
    device.patient = Patient.from_db(
        device._state.db, ["id", "practice_id"], [device.patient_id, extra["patient_practice_id"]]
    )
    if isinstance(extra["enrolled_from"], str):  # SQLite returns MIN() of a date as text
        extra["enrolled_from"] = date.fromisoformat(extra["enrolled_from"])
    if postgres:
        extra["limits"] = _effective_limits([_LimitRow(*row) for row in extra.pop("limit_rows")])
    return device


def device_limits(device: Device) -> dict[str, list[rules.Limit]]:
    """The limits in force for the device's patient: those device_for_token brought along,
    else read now."""
    limits = getattr(device, "limits", None)
    return limits if limits is not None else limits_for(device.patient)


# Raw SQL: ingestion runs this on every upload, and compiling the ORM query cost more CPU than
# the query itself.
_DEVICE_BY_TOKEN = """
    SELECT d.*, p.practice_id AS patient_practice_id,
           (SELECT MIN(e.start_date) FROM rpm_enrollment e
            WHERE e.patient_id = d.patient_id AND e.is_active) AS enrolled_from
    FROM rpm_device d JOIN accounts_patient p ON p.id = d.patient_id
    WHERE d.token_hash = %s AND d.revoked_at IS NULL
"""

# The limits in force (as _LIMITS, as one JSON array) and whether a subscription would hear of
# new observations. Read before the upload's transaction begins, like the device itself: a
# threshold or subscription changed in the same millisecond applies from the next upload.
_DEVICE_BY_TOKEN_POSTGRES = """
    SELECT d.*, p.practice_id AS patient_practice_id,
           (SELECT MIN(e.start_date) FROM rpm_enrollment e
            WHERE e.patient_id = d.patient_id AND e.is_active) AS enrolled_from,
           (SELECT coalesce(json_agg(json_build_array(t.patient_id, t.vital, t.op, t.value,
                                                      t.severity)), '[]'::json)
            FROM rpm_threshold t
            WHERE t.patient_id = d.patient_id
               OR (t.patient_id IS NULL AND t.practice_id = p.practice_id
                   AND (t.program = '' OR t.program IN (
                       SELECT e.program FROM rpm_enrollment e
                       WHERE e.patient_id = d.patient_id AND e.is_active
                   )))) AS limit_rows,
           EXISTS (SELECT 1 FROM fhir_subscriptions_notificationsubscription s
                   WHERE s.practice_id = p.practice_id AND s.status = 'active'
                     AND s.topics @> '["observation-created"]'::jsonb
           ) AS observation_subscribed
    FROM rpm_device d JOIN accounts_patient p ON p.id = d.patient_id
    WHERE d.token_hash = %s AND d.revoked_at IS NULL
"""


# --- Ingestion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewReading:
    """A reading just stored: what the rules need, without building model instances."""

    pk: int
    vital: str
    value: float
    measured_at: datetime


# --- Rules ----------------------------------------------------------------------------------


def limits_for(patient: Patient) -> dict[str, list[rules.Limit]]:
    """The limits in force for this patient: their own rows, else their practice's for the
    programs they are enrolled in (and for every program), else the built-in ones."""
    with connection.cursor() as cursor:
        cursor.execute(_LIMITS, [patient.pk, patient.practice_id, patient.pk])
        return _effective_limits([_LimitRow(*row) for row in cursor.fetchall()])


def _effective_limits(rows: list["_LimitRow"]) -> dict[str, list[rules.Limit]]:
    return rules.effective_limits(
        [row for row in rows if row.patient_id is None],
        [row for row in rows if row.patient_id is not None],
    )


class _LimitRow(NamedTuple):
    patient_id: int | None
    vital: str
    op: str
    value: float
    severity: str


# Raw SQL for the same reason as _DEVICE_BY_TOKEN: every upload runs the rules.
_LIMITS = """
    SELECT patient_id, vital, op, value, severity FROM rpm_threshold
    WHERE patient_id = %s
       OR (patient_id IS NULL AND practice_id = %s
           AND (program = '' OR program IN (
               SELECT program FROM rpm_enrollment WHERE patient_id = %s AND is_active
           )))
"""


def evaluate(
    *,
    patient: Patient,
    readings: list[NewReading],
    actor_label: str = "",
    limits: dict[str, list[rules.Limit]] | None = None,
) -> list[Alert]:
    """Run the rules over new readings (in the caller's transaction). Readings that break the
    same rule the same way join the open alert of that episode. `actor_label` names who sent
    the readings in the audit of the alerts they open (a device); `limits`, the limits in
    force when the caller has them already (limits_for otherwise)."""
    if limits is None:
        limits = limits_for(patient)
    findings: dict[str, dict] = {}

    def found(key, *, rule, vital, severity, summary, reading):
        entry = findings.setdefault(
            key,
            {
                "rule": rule,
                "vital": vital,
                "severity": severity,
                "summary": summary,
                "readings": [],
            },
        )
        entry["readings"].append(reading)
        entry["summary"] = summary  # the latest reading describes the episode best

    by_vital: dict[str, list[NewReading]] = defaultdict(list)
    pressures: dict[datetime, dict[str, NewReading]] = defaultdict(dict)
    for reading in readings:
        by_vital[reading.vital].append(reading)
        if reading.vital in ("systolic", "diastolic"):
            pressures[reading.measured_at][reading.vital] = reading
    panels = [pair for pair in pressures.values() if len(pair) == 2]
    in_panel = {r.pk for pair in panels for r in pair.values()}
    for pair in panels:
        _blood_pressure(pair["systolic"], pair["diastolic"], limits, found)
    for reading in readings:
        if reading.pk in in_panel:
            continue
        breach = rules.worst_breach(limits.get(reading.vital, []), reading.value)
        if breach is not None:
            found(
                rules.episode("threshold", reading.vital, breach.severity, breach.direction),
                rule=Alert.Rule.THRESHOLD,
                vital=reading.vital,
                severity=breach.severity,
                summary=_("%(vital)s %(reading)s")
                % {
                    "vital": _vital_name(reading.vital),
                    "reading": breach.describe(reading.value, UNITS[reading.vital]),
                },
                reading=reading,
            )
    baselines = _baselines(
        patient, {vital: min(r.measured_at for r in new) for vital, new in by_vital.items()}
    )
    for vital, new in by_vital.items():
        if vital in baselines:
            _trend(vital, new, limits, baselines[vital], found)
    if (
        "weight" in by_vital
        and Enrollment.objects.filter(
            patient=patient, program="heart_failure", is_active=True
        ).exists()
    ):
        _weight_gain(patient, by_vital["weight"], found)
    if findings:
        _lock_alerts_of(patient)
    return [_open_or_join(patient, key, entry, actor_label) for key, entry in findings.items()]


def _lock_alerts_of(patient: Patient) -> None:
    """Serialise alert opening per patient: two batches arriving together would otherwise both
    find no open episode and the second insert would break the whole batch."""
    Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk").first()


def _vital_name(vital: str) -> str:
    from rpm.models import Vital

    return str(Vital(vital).label)


def _blood_pressure(
    systolic: NewReading,
    diastolic: NewReading,
    limits: dict[str, list[rules.Limit]],
    found: Callable[..., None],
) -> None:
    """One measurement is one alert: the worse of the two breaches sets its severity, and the
    summary names both values and the limits they broke (220/128 mmHg (≥ 180/120))."""
    breaches = [
        (reading, rules.worst_breach(limits.get(reading.vital, []), reading.value))
        for reading in (systolic, diastolic)
    ]
    broken = [(reading, limit) for reading, limit in breaches if limit is not None]
    if not broken:
        return
    worst = max(broken, key=lambda pair: rules.SEVERITY_RANK[pair[1].severity])[1]
    signs = {"ge": "≥", "lt": "<"}
    if len(broken) == 2 and broken[0][1].op == broken[1][1].op:
        crossed = f"{signs[worst.op]} {broken[0][1].value:g}/{broken[1][1].value:g}"
    else:
        names = {"systolic": _("systolic"), "diastolic": _("diastolic")}
        crossed = ", ".join(
            f"{names[reading.vital]} {signs[limit.op]} {limit.value:g}" for reading, limit in broken
        )
    summary = _("Blood pressure %(systolic)s/%(diastolic)s mmHg (%(limits)s)") % {
        "systolic": f"{systolic.value:g}",
        "diastolic": f"{diastolic.value:g}",
        "limits": crossed,
    }
    for reading in (systolic, diastolic):
        found(
            rules.episode("threshold", "blood_pressure", worst.severity, worst.direction),
            rule=Alert.Rule.THRESHOLD,
            vital="",
            severity=worst.severity,
            summary=summary,
            reading=reading,
        )


def _trend(vital, new, limits, stats: tuple[float, float], found) -> None:
    for reading in new:
        if rules.worst_breach(limits.get(vital, []), reading.value):
            continue  # a threshold alert says it already
        z = rules.robust_z(reading.value, stats)
        if abs(z) >= rules.Z_LIMIT:
            direction = "high" if z > 0 else "low"
            found(
                rules.episode("trend", vital, "warning", direction),
                rule=Alert.Rule.TREND,
                vital=vital,
                severity="warning",
                summary=_("%(vital)s %(value)s %(unit)s is far from this patient's usual")
                % {
                    "vital": _vital_name(vital),
                    "value": f"{reading.value:g}",
                    "unit": UNITS[vital],
                },
                reading=reading,
            )


def baseline_until(moment: datetime) -> datetime:
    """The end of the baseline a reading taken at `moment` is judged against: the UTC
    midnight that starts its day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _baselines(patient: Patient, before: dict[str, datetime]) -> dict[str, tuple[float, float]]:
    """(median, MAD) per vital of the patient's readings in the BASELINE_DAYS before the UTC
    midnight that starts the day of the given moment, for the vitals with enough history.

    The rule (chosen so an upload does not sort a month of readings every time): the baseline
    ends at the start of the reading's day, so it is the same for every upload of that day and
    is computed once, then kept in Baseline (one row per patient and vital, in the upload's
    transaction: nothing outlives a rollback). Readings earlier the same day are not part of
    it, so a bad morning does not shift its own baseline. A kept baseline stays right because
    every write of a reading from before its `until` replaces it: an upload of older readings
    asks for (and stores) the baseline of an earlier day, and withdrawals and corrections
    delete it (forget_baselines). A reading written by a transaction still open while another
    computes the same day's baseline is missed by it until the next day, as it was before.

    PostgreSQL: one statement for all vitals, reading the kept rows and computing, and
    storing, the missing ones."""
    untils = {vital: baseline_until(moment) for vital, moment in before.items()}
    window = timedelta(days=rules.BASELINE_DAYS)
    if connection.vendor != "postgresql":
        kept = {
            row.vital: row
            for row in Baseline.objects.filter(patient=patient, vital__in=list(untils))
            if row.until == untils[row.vital]
        }
        found = {}
        for vital, until in untils.items():
            row = kept.get(vital)
            if row is None:
                values = list(
                    Reading.objects.filter(
                        patient=patient,
                        vital=vital,
                        measured_at__gte=until - window,
                        measured_at__lt=until,
                    ).values_list("value", flat=True)
                )
                stats = rules.baseline_stats(values)
                median, mad = stats if stats is not None else (None, None)
                row, _created = Baseline.objects.update_or_create(
                    patient=patient,
                    vital=vital,
                    defaults={
                        "until": until,
                        "median": median,
                        "mad": mad,
                        "readings": len(values),
                    },
                )
            if row.median is not None and row.mad:
                found[vital] = (row.median, row.mad)
        return found
    vitals = sorted(untils)  # rows are written in this order: no deadlock between uploads
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH wanted AS (
                SELECT * FROM unnest(%(vitals)s::text[], %(untils)s::timestamptz[])
                    AS a(vital, until)
            ), kept AS (
                SELECT b.vital, b.median, b.mad, b.readings
                FROM rpm_baseline b JOIN wanted w ON b.vital = w.vital AND b.until = w.until
                WHERE b.patient_id = %(patient)s
            ), fresh AS (
                -- One index scan per vital: the values come back as an array for the MAD.
                SELECT w.vital, w.until, m.median, m.readings,
                       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v - m.median))
                        FROM unnest(m.recent) AS v) AS mad
                FROM wanted w CROSS JOIN LATERAL (
                    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r.value) AS median,
                           array_agg(r.value) AS recent, count(*) AS readings
                    FROM rpm_reading r
                    WHERE r.patient_id = %(patient)s AND r.vital = w.vital
                      AND r.measured_at >= w.until - make_interval(days => %(days)s)
                      AND r.measured_at < w.until
                ) m
                WHERE w.vital NOT IN (SELECT vital FROM kept)
            ), stored AS (
                INSERT INTO rpm_baseline (patient_id, vital, until, median, mad, readings)
                SELECT %(patient)s, vital, until, median, mad, readings FROM fresh ORDER BY vital
                ON CONFLICT (patient_id, vital) DO UPDATE
                SET until = EXCLUDED.until, median = EXCLUDED.median, mad = EXCLUDED.mad,
                    readings = EXCLUDED.readings
            )
            SELECT vital, median, mad, readings FROM kept
            UNION ALL SELECT vital, median, mad, readings FROM fresh
            """,
            {
                "vitals": vitals,
                "untils": [untils[vital] for vital in vitals],
                "patient": patient.pk,
                "days": rules.BASELINE_DAYS,
            },
        )
        return {
            vital: (median, mad)
            for vital, median, mad, readings in cursor.fetchall()
            if readings >= rules.BASELINE_MINIMUM and mad
        }


def forget_baselines(*, patient_id: int, vitals) -> None:
    """Drop the kept baselines of these vitals: readings they counted were withdrawn or
    corrected."""
    Baseline.objects.filter(patient_id=patient_id, vital__in=list(vitals)).delete()


def _weight_gain(patient, weights, found) -> None:
    for reading in weights:
        for days, limit in ((1, rules.WEIGHT_DAY_KG), (7, rules.WEIGHT_WEEK_KG)):
            lowest = (
                Reading.objects.filter(
                    patient=patient,
                    vital="weight",
                    measured_at__gte=reading.measured_at - timedelta(days=days),
                    measured_at__lt=reading.measured_at,
                )
                .order_by("value")
                .values_list("value", flat=True)
                .first()
            )
            if lowest is not None and reading.value - lowest > limit:
                found(
                    rules.episode("weight_gain", "weight", "warning", f"{days}d"),
                    rule=Alert.Rule.WEIGHT_GAIN,
                    vital="weight",
                    severity="warning",
                    summary=_("Weight up %(gain).1f kg in %(days)s day(s)")
                    % {"gain": reading.value - lowest, "days": days},
                    reading=reading,
                )


def _open_or_join(patient: Patient, key: str, entry: dict, actor_label: str) -> Alert:
    latest = max(r.measured_at for r in entry["readings"])
    alert = (
        Alert.objects.select_for_update()
        .filter(patient=patient, episode=key)
        .exclude(status=Alert.Status.RESOLVED)
        .first()
    )
    if alert is not None:
        alert.readings.add(*[r.pk for r in entry["readings"]])
        alert.summary = entry["summary"][:200]
        alert.last_reading_at = max(latest, alert.last_reading_at or latest)
        alert.save(update_fields=["summary", "last_reading_at"])
        return alert
    alert = Alert.objects.create(
        patient=patient,
        rule=entry["rule"],
        vital=entry["vital"],
        episode=key,
        severity=entry["severity"],
        summary=entry["summary"][:200],
        last_reading_at=latest,
    )
    alert.readings.add(*[r.pk for r in entry["readings"]])
    audit.record(
        action=Action.CREATE,
        obj=alert,
        patient=patient,
        actor_label=actor_label,
        detail=f"alert {key}",
    )
    _announce(alert, _assigned(patient))
    return alert


def _assigned(patient: Patient) -> list[User]:
    return list(
        User.objects.filter(
            rpm_enrollments__patient=patient,
            rpm_enrollments__is_active=True,
            is_active=True,
            practice_id=patient.practice_id,
        ).distinct()
    )


def alert_url(alert: Alert) -> str:
    return settings.SITE_URL + reverse("rpm:patient", args=[alert.patient_id])


def _announce(alert: Alert, people: list[User], *, escalation: bool = False) -> None:
    """Live to each person's own socket (every signed-in page shows it: static/js/alerts.js);
    critical alerts also by email through the outbox (the email names no patient and no
    value: it points to the app). The live event names no patient either, only their id and
    the page to open, so a notice on a screen others can see shows a reading, not a person."""
    for person in people:
        broadcast_on_commit(
            user_group(person.pk),
            {
                "type": "user.event",
                "payload": {
                    "type": "rpm-alert",
                    "alert": alert.pk,
                    "patient": alert.patient_id,
                    "severity": alert.severity,
                    "summary": alert.summary,
                    "escalation": escalation,
                    "url": reverse("rpm:patient", args=[alert.patient_id]),
                },
            },
        )
        if alert.severity == "critical" and person.email:
            subject = (
                _("Unacknowledged critical monitoring alert")
                if escalation
                else _("Critical monitoring alert")
            )
            notify.message_enqueue(
                channel="email",
                template="rpm.alert",
                staff=person,
                subject=subject,
                body=_("A patient you monitor has a critical reading. Open the alert: %(link)s")
                % {"link": alert_url(alert)},
                dedupe_key=f"rpm-alert:{alert.pk}:{person.pk}:{'esc' if escalation else 'new'}",
                related=alert,
            )


def acknowledge(*, alert: Alert, by: User) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status == Alert.Status.OPEN:
            alert.status = Alert.Status.ACKNOWLEDGED
            alert.acknowledged_at, alert.acknowledged_by = timezone.now(), by
            alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
            audit.record(action=Action.UPDATE, actor=by, obj=alert, detail="acknowledged")
    return alert


def resolve(*, alert: Alert, by: User, note: str) -> Alert:
    note = note.strip()
    if not note:
        raise RpmError(_("Say what was done: a resolution note is required."))
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.status == Alert.Status.RESOLVED:
            raise RpmError(_("This alert is already resolved."))
        now = timezone.now()
        alert.status = Alert.Status.RESOLVED
        alert.resolved_at, alert.resolved_by, alert.resolution_note = now, by, note[:2000]
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, by
        alert.save()
        audit.record(action=Action.UPDATE, actor=by, obj=alert, detail="resolved")
    return alert


def escalate_overdue() -> int:
    """Critical alerts nobody acknowledged within RPM_ESCALATION_MINUTES go to the
    enrolment's escalation contact (once)."""
    limit = timezone.now() - timedelta(minutes=settings.RPM_ESCALATION_MINUTES)
    escalated = 0
    for alert in Alert.objects.filter(
        status=Alert.Status.OPEN,
        severity="critical",
        escalated_at__isnull=True,
        opened_at__lt=limit,
    ):
        contacts = list(
            User.objects.filter(
                pk__in=Enrollment.objects.filter(
                    patient_id=alert.patient_id, is_active=True, escalation_contact__isnull=False
                ).values("escalation_contact")
            )
        )
        with transaction.atomic():
            if not Alert.objects.filter(pk=alert.pk, escalated_at__isnull=True).update(
                escalated_at=timezone.now()
            ):
                continue
            _announce(alert, contacts, escalation=True)
            escalated += 1
    return escalated


def flag_missed_readings() -> int:
    """An alert for each monitored patient with no reading for RPM_MISSED_DAYS days."""
    since = timezone.now() - timedelta(days=settings.RPM_MISSED_DAYS)
    flagged = 0
    enrolled = Patient.objects.filter(
        rpm_enrollments__is_active=True, rpm_enrollments__start_date__lte=since.date()
    ).distinct()
    for patient in enrolled:
        if Reading.objects.filter(patient=patient, measured_at__gte=since).exists():
            continue
        with transaction.atomic():
            _lock_alerts_of(patient)
            key = rules.episode("missed", "", "warning")
            if (
                Alert.objects.filter(patient=patient, episode=key)
                .exclude(status=Alert.Status.RESOLVED)
                .exists()
            ):
                continue
            alert = Alert.objects.create(
                patient=patient,
                rule=Alert.Rule.MISSED,
                episode=key,
                severity="warning",
                summary=_("No readings for %(days)s days") % {"days": settings.RPM_MISSED_DAYS},
            )
            _announce(alert, _assigned(patient))
            flagged += 1
    return flagged


# --- Time -----------------------------------------------------------------------------------


def time_log(
    *, patient: Patient, by: User, kind: str, minutes: int, day, note: str = ""
) -> TimeLog:
    if not 1 <= minutes <= 240:
        raise RpmError(_("Log between 1 and 240 minutes at a time."))
    if day > timezone.localdate():
        raise RpmError(_("Time cannot be logged for a future day."))
    with transaction.atomic():
        entry = TimeLog.objects.create(
            patient=patient, clinician=by, kind=kind, minutes=minutes, day=day, note=note[:1000]
        )
        audit.record(
            action=Action.CREATE, actor=by, obj=entry, patient=patient, detail=f"{minutes} min"
        )
    return entry
