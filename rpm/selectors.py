"""Reads of remote monitoring. Clinicians see the patients they monitor or care for; practice
admins see their practice's (for billing figures); the front desk sees no vitals; patients
see their own readings."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber, TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from rpm import charts, fhir
from rpm.models import Alert, Enrollment, Reading, TimeLog, Vital
from rpm.vitals import CANONICAL
from telehealth.accounts.models import Patient, Role, User
from telehealth.accounts.selectors import patients_visible_to

SEVERITY = {"critical": 2, "warning": 1}


def monitored_patients(user: User) -> QuerySet[Patient]:
    patients = Patient.objects.filter(rpm_enrollments__is_active=True)
    if user.practice_id is None:
        return Patient.objects.none()
    if user.role == Role.CLINICIAN:
        # The escalation contact is told of unacknowledged critical alerts, so they must be
        # able to open them.
        escalations = Enrollment.objects.filter(is_active=True, escalation_contact=user)
        patients = patients.filter(
            Q(rpm_enrollments__clinicians=user)
            | Q(pk__in=escalations.values("patient"))
            | Q(pk__in=patients_visible_to(user).values("pk")),
            practice_id=user.practice_id,
        )
    elif user.role == Role.PRACTICE_ADMIN:
        patients = patients.filter(practice_id=user.practice_id)
    else:
        return Patient.objects.none()
    return patients.distinct()


def access_patient(*, user: User, patient_id: int) -> Patient:
    """A patient whose vitals this user may see (monitored or not yet enrolled)."""
    if user.role not in (Role.CLINICIAN, Role.PRACTICE_ADMIN):
        from django.http import Http404

        raise Http404
    allowed = Patient.objects.filter(
        Q(pk__in=patients_visible_to(user).values("pk"))
        | Q(pk__in=monitored_patients(user).values("pk"))
    )
    return get_object_or_404(allowed.select_related("practice"), pk=patient_id)


@dataclass(frozen=True)
class ShownVital:
    label: str | Promise
    value: str
    unit: str
    measured_at: datetime


def shown_vitals(newest: dict[str, tuple[float, datetime]]) -> list[ShownVital]:
    """Each vital's newest value with its label and unit, in the chart's order; systolic and
    diastolic read as one blood pressure, 220/128 mmHg."""
    out: list[ShownVital] = []
    if "systolic" in newest and "diastolic" in newest:
        (high, at), (low, low_at) = newest["systolic"], newest["diastolic"]
        out.append(
            ShownVital(
                _("Blood pressure"), f"{high:g}/{low:g}", CANONICAL["systolic"], max(at, low_at)
            )
        )
    for vital in Vital.values:
        if vital in newest and not (out and vital in ("systolic", "diastolic")):
            value, at = newest[vital]
            out.append(ShownVital(Vital(vital).label, f"{value:g}", CANONICAL[vital], at))
    return out


def dashboard(*, user: User) -> list[dict]:
    """Monitored patients, the most worrying first: open alert severity, then recency."""
    patients = list(monitored_patients(user).select_related("practice"))
    ids = [p.pk for p in patients]
    open_alerts: dict[int, list[Alert]] = {}
    for alert in Alert.objects.filter(patient_id__in=ids).exclude(status=Alert.Status.RESOLVED):
        open_alerts.setdefault(alert.patient_id, []).append(alert)
    newest: dict[int, dict[str, tuple[float, datetime]]] = {}
    for patient_id, vital, value, moment in (
        Reading.objects.filter(patient_id__in=ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("patient_id"), F("vital")],
                order_by=F("measured_at").desc(),
            )
        )
        .filter(rank=1)
        .values_list("patient_id", "vital", "value", "measured_at")
    ):
        newest.setdefault(patient_id, {})[vital] = (value, moment)
    days = recent_reading_days(patients)
    rows = []
    for patient in patients:
        alerts = open_alerts.get(patient.pk, [])
        worst = max((SEVERITY[a.severity] for a in alerts), default=0)
        recent = max((a.opened_at for a in alerts), default=None)
        rows.append(
            {
                "patient": patient,
                "alerts": sorted(alerts, key=lambda a: -SEVERITY[a.severity]),
                "worst": {2: "critical", 1: "warning"}.get(worst, ""),
                "latest": shown_vitals(newest.get(patient.pk, {})),
                "recent_days": days.get(patient.pk, 0),
                "sort": (-worst, -(recent.timestamp() if recent else 0), patient.legal_name),
            }
        )
    return sorted(rows, key=lambda r: r["sort"])


# Adherence on the dashboard: days with readings in the last RECENT_DAYS local days, today
# included. A rolling window, not a billing period: billing counts 30-day periods from the
# start of monitoring, and shows them on the patient page through rpm.panels.
RECENT_DAYS = 30


def recent_reading_days(patients: list[Patient]) -> dict[int, int]:
    """Days with readings per patient in the last RECENT_DAYS days of their practice's zone
    (a user's monitored patients share one practice)."""
    if not patients:
        return {}
    zone = patients[0].practice.zone
    since = timezone.localdate(timezone=zone) - timedelta(days=RECENT_DAYS - 1)
    return dict(
        Reading.objects.filter(
            patient_id__in=[p.pk for p in patients],
            measured_at__gte=datetime.combine(since, datetime.min.time(), zone),
        )
        .annotate(day=TruncDate("measured_at", tzinfo=zone))
        .values("patient_id")
        .annotate(days=Count("day", distinct=True))
        .values_list("patient_id", "days")
    )


BUCKETS = 300  # per chart: each bucket's lowest and highest reading are drawn


def _series(patient: Patient, start, end) -> dict[str, tuple[list, int]]:
    """Per vital: points to draw (thinned in the database on PostgreSQL: each time bucket's
    lowest and highest value) and how many readings there were."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT vital, min(measured_at), max(measured_at), min(value), max(value), count(*)
                FROM rpm_reading
                WHERE patient_id = %s AND measured_at >= %s AND measured_at <= %s
                GROUP BY vital, width_bucket(extract(epoch FROM measured_at), %s, %s, %s)
                ORDER BY vital, 2
                """,
                [patient.pk, start, end, start.timestamp(), end.timestamp() + 1, BUCKETS],
            )
            series: dict[str, tuple[list, int]] = {}
            for vital, first, last, low, high, count in cursor.fetchall():
                points, total = series.get(vital, ([], 0))
                points += [(first, low), (last, high)] if low != high else [(last, low)]
                series[vital] = (points, total + count)
            return series
    raw: dict[str, list] = {}
    for vital, moment, value in (
        Reading.objects.filter(patient=patient, measured_at__gte=start, measured_at__lte=end)
        .order_by("vital", "measured_at")
        .values_list("vital", "measured_at", "value")
    ):
        raw.setdefault(vital, []).append((moment, value))
    return {vital: (charts.thin(points), len(points)) for vital, points in raw.items()}


def trends(*, patient: Patient, days: int, limits: dict) -> list[dict]:
    """One chart per vital the patient has readings for in the period."""
    end = timezone.now()
    start = end - timedelta(days=days)
    series = _series(patient, start, end)
    out = []
    for vital in Vital.values:
        if vital not in series:
            continue
        points, count = series[vital]
        last = (
            Reading.objects.filter(patient=patient, vital=vital)
            .order_by("-measured_at")
            .values_list("measured_at", "value")
            .first()
        )
        if last is None:  # deleted since the series was read
            continue
        shown = [(limit.value, limit.severity) for limit in limits.get(vital, [])]
        label = f"{Vital(vital).label}: {count} readings, last {last[1]:g} {CANONICAL[vital]}"
        out.append(
            {
                "vital": vital,
                "label": Vital(vital).label,
                "count": count,
                "last": last,
                "last_shown": f"{last[1]:g} {CANONICAL[vital]}",
                "svg": charts.line_chart(
                    points=points,
                    start=start,
                    end=end,
                    limits=shown,
                    unit=CANONICAL[vital],
                    label=label,
                ),
            }
        )
    return out


def recent_readings(*, patient: Patient, limit: int = 50) -> QuerySet[Reading]:
    return (
        Reading.objects.filter(patient=patient)
        .select_related("device")
        .order_by("-measured_at")[:limit]
    )


def alerts_of(*, patient: Patient) -> QuerySet[Alert]:
    return Alert.objects.filter(patient=patient).select_related("acknowledged_by", "resolved_by")


def open_alerts(*, patient: Patient) -> QuerySet[Alert]:
    return alerts_of(patient=patient).exclude(status=Alert.Status.RESOLVED)


def open_alerts_for(*, user: User) -> QuerySet[Alert]:
    """Open and acknowledged alerts of the patients this user monitors, the most urgent
    first: critical before warning, then the newest. The front desk gets none."""
    rank = Case(
        *(When(severity=severity, then=Value(-weight)) for severity, weight in SEVERITY.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    return (
        Alert.objects.filter(patient__in=monitored_patients(user).values("pk"))
        .exclude(status=Alert.Status.RESOLVED)
        .select_related("patient")
        .order_by(rank, "-opened_at", "-pk")
    )


def access_alert(*, user: User, alert_id: int) -> Alert:
    alert = get_object_or_404(Alert.objects.select_related("patient"), pk=alert_id)
    access_patient(user=user, patient_id=alert.patient_id)
    return alert


def latest_vitals(*, patient: Patient) -> list[tuple[str | Promise, float, str, datetime]]:
    """The newest reading of each vital: for the visit room and the chart."""
    out: list[tuple[str | Promise, float, str, datetime]] = []
    for vital in Vital.values:
        reading = (
            Reading.objects.filter(patient=patient, vital=vital).order_by("-measured_at").first()
        )
        if reading is not None:
            out.append((Vital(vital).label, reading.value, CANONICAL[vital], reading.measured_at))
    return out


def enrollment_of(patient: Patient) -> QuerySet[Enrollment]:
    return Enrollment.objects.filter(patient=patient, is_active=True).prefetch_related("clinicians")


# A re-enrolment within this many days of the previous enrolment's last reading continues the
# same episode of monitoring (one device-supply period); a longer gap starts a new one.
EPISODE_GAP = timedelta(days=30)


@dataclass(frozen=True)
class MonitoringEpisode:
    """A monitored patient's figures for billing: when the current episode of monitoring
    started and the clinicians of their active enrolments, lowest id first.

    The start is the first day of continuous enrolment, active or not today: ending one of two
    programs, or ending an enrolment and enrolling again within EPISODE_GAP, keeps it, so the
    30-day periods counted from it never move."""

    patient: Patient
    start: date
    clinician_ids: tuple[int, ...]


def monitoring_episodes(*, patients: QuerySet[Patient] | None = None) -> list[MonitoringEpisode]:
    """Every practice's patients under active monitoring: a system read for periodic jobs.
    Pages pass `patients`, already scoped to the user (monitored_patients), to narrow it."""
    enrolments = Enrollment.objects.filter(patient__rpm_enrollments__is_active=True)
    if patients is not None:
        enrolments = enrolments.filter(patient__in=patients.values("pk"))
    enrolments = (
        enrolments.distinct()
        .select_related("patient__practice")
        .prefetch_related("clinicians")
        .order_by("patient_id", "start_date", "pk")
    )
    by_patient: dict[int, list[Enrollment]] = {}
    for enrolment in enrolments:
        by_patient.setdefault(enrolment.patient_id, []).append(enrolment)
    episodes = []
    for patient_enrolments in by_patient.values():
        active = [enrolment for enrolment in patient_enrolments if enrolment.is_active]
        clinicians = sorted({user.pk for e in active for user in e.clinicians.all()})
        episodes.append(
            MonitoringEpisode(
                active[0].patient, episode_start(patient_enrolments), tuple(clinicians)
            )
        )
    return episodes


def episode_start(enrolments: list[Enrollment]) -> date:
    """The start of the episode the patient's active enrolments belong to; `enrolments` are
    all of theirs, earliest start first, at least one active.

    Walking back from the earliest active enrolment: an earlier one belongs to the episode when
    it is active, or when the patient's last reading between its start and the later start came
    within EPISODE_GAP of that start (no reading: its own start stands for the last one)."""
    first_active = next(i for i, enrolment in enumerate(enrolments) if enrolment.is_active)
    start = enrolments[first_active].start_date
    for earlier in reversed(enrolments[:first_active]):
        if not earlier.is_active and start - last_reading_day(earlier, before=start) > EPISODE_GAP:
            break
        start = min(start, earlier.start_date)
    return start


def last_reading_day(enrolment: Enrollment, *, before: date) -> date:
    """The local day of the patient's last reading from the enrolment's start to `before`."""
    zone = enrolment.patient.practice.zone
    last = (
        Reading.objects.filter(
            patient_id=enrolment.patient_id,
            measured_at__gte=datetime.combine(enrolment.start_date, datetime.min.time(), zone),
            measured_at__lt=datetime.combine(before, datetime.min.time(), zone),
        )
        .order_by("-measured_at")
        .values_list("measured_at", flat=True)
        .first()
    )
    return timezone.localtime(last, zone).date() if last else enrolment.start_date


def reading_dates_by_device(*, patient: Patient, first: date, last: date) -> dict[str, set[date]]:
    """Each device's days with readings between two local dates (the practice's time zone)."""
    zone = patient.practice.zone
    rows = (
        Reading.objects.filter(
            patient=patient,
            measured_at__gte=datetime.combine(first, datetime.min.time(), zone),
            measured_at__lt=datetime.combine(last + timedelta(days=1), datetime.min.time(), zone),
        )
        .annotate(day=TruncDate("measured_at", tzinfo=zone))
        .values_list("device_id", "day")
        .distinct()
    )
    days: dict[str, set[date]] = {}
    for device_id, day in rows:
        days.setdefault(str(device_id), set()).add(day)
    return days


def reading_dates_by_patient(
    *, patients: list[Patient], first: date, last: date
) -> dict[int, dict[str, set[date]]]:
    """reading_dates_by_device for many patients: one query per practice time zone (a page's
    patients share one practice, so one query)."""
    by_zone: dict[str, list[Patient]] = {}
    for patient in patients:
        by_zone.setdefault(patient.practice.time_zone, []).append(patient)
    days: dict[int, dict[str, set[date]]] = {}
    for group in by_zone.values():
        zone = group[0].practice.zone
        rows = (
            Reading.objects.filter(
                patient__in=[patient.pk for patient in group],
                measured_at__gte=datetime.combine(first, datetime.min.time(), zone),
                measured_at__lt=datetime.combine(
                    last + timedelta(days=1), datetime.min.time(), zone
                ),
            )
            .annotate(day=TruncDate("measured_at", tzinfo=zone))
            .values_list("patient_id", "device_id", "day")
            .distinct()
        )
        for patient_id, device_id, day in rows:
            days.setdefault(patient_id, {}).setdefault(str(device_id), set()).add(day)
    return days


def time_logs_of(*, patients: list[Patient], first: date, last: date) -> QuerySet[TimeLog]:
    """time_logs for many patients in one query."""
    return TimeLog.objects.filter(
        patient__in=[patient.pk for patient in patients], day__gte=first, day__lte=last
    ).select_related("clinician")


def time_logs(*, patient: Patient, first: date, last: date) -> QuerySet[TimeLog]:
    """Logged monitoring time between two dates, with who logged it."""
    return TimeLog.objects.filter(patient=patient, day__gte=first, day__lte=last).select_related(
        "clinician"
    )


# --- FHIR Observations (rpm.fhir builds them) ------------------------------------------------

OBSERVATION_PAGE_MAX = 1000


def vitals_patients(user: User) -> QuerySet[Patient]:
    """Patients whose vitals this user may see: a patient their own; clinicians and practice
    admins those access_patient lets them open; the front desk and inactive users none."""
    if not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    if user.role == Role.PATIENT:
        return Patient.objects.filter(user=user)
    if user.role not in (Role.CLINICIAN, Role.PRACTICE_ADMIN):
        return Patient.objects.none()
    return Patient.objects.filter(
        Q(pk__in=patients_visible_to(user).values("pk"))
        | Q(pk__in=monitored_patients(user).values("pk"))
    )


def _observations(user: User) -> QuerySet[Reading]:
    """The readings served as Observations to this user: a systolic reading carries its
    diastolic partner (same device and time) as `panel_diastolic`, and a diastolic reading
    with a systolic partner is left out (it is a component of that panel)."""
    diastolic = Reading.objects.filter(
        device_id=OuterRef("device_id"), vital=Vital.DIASTOLIC, measured_at=OuterRef("measured_at")
    )
    systolic = Reading.objects.filter(
        device_id=OuterRef("device_id"), vital=Vital.SYSTOLIC, measured_at=OuterRef("measured_at")
    )
    return (
        Reading.objects.filter(patient__in=vitals_patients(user).values("pk"))
        .annotate(
            panel_diastolic=Case(
                When(vital=Vital.SYSTOLIC, then=Subquery(diastolic.values("value")[:1])),
                default=None,
                output_field=FloatField(),
            ),
            in_panel=Case(
                When(vital=Vital.DIASTOLIC, then=Exists(systolic)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        .filter(in_panel=False)
        .select_related("device")
    )


def observations_for(
    *,
    user: User,
    patient_id: int | None = None,
    code: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> QuerySet[Reading]:
    """A page of the readings this user may see as Observations, by id (keyset paging: pass
    the last id of a page as `after_id`), in one query whatever the page size.

    `code` is a FHIR token ("8867-4", "http://loinc.org|85354-9"; comma-separated for any
    of several) matched against the codes served (rpm.fhir.CODED); `date_from` is inclusive
    and `date_to` exclusive, on the time of measurement."""
    readings = _observations(user)
    if patient_id is not None:
        readings = readings.filter(patient_id=patient_id)
    if code is not None:
        wanted = Q(pk__in=[])
        for token in code.split(","):
            wanted |= observation_code_q(token.strip())
        readings = readings.filter(wanted)
    if date_from is not None:
        readings = readings.filter(measured_at__gte=date_from)
    if date_to is not None:
        readings = readings.filter(measured_at__lt=date_to)
    if after_id is not None:
        readings = readings.filter(pk__gt=after_id)
    return readings.order_by("pk")[: max(1, min(limit, OBSERVATION_PAGE_MAX))]


def observation_code_q(token: str) -> Q:
    """The filter on observations() for one FHIR code token ("8867-4", "loinc|85354-9")."""
    vitals, panel = fhir.vitals_for_code(token)
    if not vitals:
        return Q(pk__in=[])
    match = Q(vital__in=vitals)
    if panel is True:
        match &= Q(panel_diastolic__isnull=False)
    elif panel is False:
        match &= ~Q(vital=Vital.SYSTOLIC, panel_diastolic__isnull=False)
    return match


def observations(user: User) -> QuerySet[Reading]:
    """Every reading this user may see as an Observation, unordered (the FHIR API pages it)."""
    # The patient row names whose PHI each Observation is (the audit); its encrypted contact
    # fields are never read here, so they are not loaded (decrypting them cost more per row
    # than building the Observation).
    return (
        _observations(user)
        .select_related("patient")
        .defer("patient__phone", "patient__email", "patient__address")
    )


def observation_read(*, user: User, reading_id: int) -> Reading:
    """One Observation's reading; 404 to anyone who may not see it, and for a diastolic
    reading served inside its panel (the panel has the systolic reading's id)."""
    return get_object_or_404(_observations(user), pk=reading_id)


# --- Practice figures (read by analytics) ------------------------------------------------


def _practice_monitored(user: User, clinician_id: int | None) -> QuerySet[Patient]:
    """The practice's actively enrolled patients (an admin's view), or those one clinician
    monitors."""
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN or not user.practice_id:
        return Patient.objects.none()
    enrolments = Enrollment.objects.filter(is_active=True, patient__practice_id=user.practice_id)
    if clinician_id:
        enrolments = enrolments.filter(clinicians=clinician_id)
    return Patient.objects.filter(pk__in=enrolments.values("patient_id"))


def enrolled_count(*, user: User, clinician_id: int | None = None) -> int:
    return _practice_monitored(user, clinician_id).count()


def reading_day_counts(
    *, user: User, first: date, last: date, clinician_id: int | None = None
) -> dict[int, int]:
    """Days with at least one reading (local dates first..last in the practice's zone) per
    monitored patient, zero for those with none: one query for the practice."""
    patients = _practice_monitored(user, clinician_id)
    if user.practice is None:
        return {}
    zone = user.practice.zone
    counts = dict.fromkeys(patients.values_list("pk", flat=True), 0)
    rows = (
        Reading.objects.filter(
            patient__in=patients,
            measured_at__gte=datetime.combine(first, datetime.min.time(), zone),
            measured_at__lt=datetime.combine(last + timedelta(days=1), datetime.min.time(), zone),
        )
        .order_by()
        .values("patient_id")
        .annotate(days=Count(TruncDate("measured_at", tzinfo=zone), distinct=True))
        .values_list("patient_id", "days")
    )
    counts.update(dict(rows))
    return counts


def alert_facts(
    *, user: User, start: datetime, end: datetime, clinician_id: int | None = None
) -> list[tuple[str, datetime, datetime | None]]:
    """(severity, opened, acknowledged) of alerts raised in [start, end) on the practice's
    patients: one query."""
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN or not user.practice_id:
        return []
    alerts = Alert.objects.filter(
        patient__practice_id=user.practice_id, opened_at__gte=start, opened_at__lt=end
    )
    if clinician_id:
        alerts = alerts.filter(patient__in=_practice_monitored(user, clinician_id))
    return list(alerts.order_by().values_list("severity", "opened_at", "acknowledged_at"))
