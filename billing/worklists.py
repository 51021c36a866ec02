"""Worklists of billing: totals per provider and month, the encounters as CSV rows, and the
monitored patients close to a threshold.

Every read starts from the acting user: encounters through billing.selectors.encounters_for
(a clinician sees only the encounters they rendered, front desk and admins the practice's),
monitored patients through rpm.selectors.monitored_patients (clinicians their own patients,
admins the practice's, nobody else).

What the CSV carries, and what it leaves out. It is for working the money: which encounter,
for whom, by whom, in what state, what was billed and paid, and the numbers a payer asks for.
Procedure codes are in it: they say what service was billed, the front desk works them every
day, and the models keep them unencrypted for the same reason. Diagnoses are not: they name the
patient's conditions, and a file that leaves the application (a spreadsheet, an email) should
carry the minimum necessary; the encounter's page shows them to those who may read them. Notes
and free text never: the front desk may not read notes, and the export is theirs.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import monitoring, progress
from billing.models import ClaimLine, Encounter
from billing.monitoring import TimeEntry
from billing.selectors import encounters_for
from rpm import selectors as rpm_selectors
from rpm.models import TimeLog
from telehealth.accounts.models import Patient, Provider, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action

STATUSES: tuple[str, ...] = tuple(Encounter.Status.values)


# --- Totals per provider and month -------------------------------------------------------


@dataclass
class ProviderMonth:
    provider_id: int | None
    provider_name: str
    npi: str
    month: date  # its first day
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    charges: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")

    @property
    def count(self) -> int:
        return sum(self.by_status.values())

    @property
    def status_counts(self) -> list[int]:
        """Counts in the order of Encounter.Status, for a table's columns."""
        return [self.by_status[status] for status in STATUSES]


def provider_month_totals(*, user: User, year: int) -> list[ProviderMonth]:
    """Encounters of `year` (by date of service) per rendering provider and month: how many in
    each status, the charges billed (the sum of their lines) and what payers paid. Ordered by
    provider name (then id), then month. Three queries, whatever the number of rows."""
    encounters = encounters_for(user=user).filter(date_of_service__year=year)
    # order_by(): the default ordering would otherwise join the GROUP BY.
    counts = (
        encounters.annotate(month=TruncMonth("date_of_service"))
        .values("rendering_provider", "month", "status")
        .annotate(count=Count("pk"), paid=Sum("paid_amount"))
        .order_by()
    )
    charges = (
        ClaimLine.objects.filter(encounter__in=encounters.values("pk"))
        .annotate(month=TruncMonth("encounter__date_of_service"))
        .values("encounter__rendering_provider", "month")
        .annotate(charge=Sum("charge"))
        .order_by()
    )
    rows: dict[tuple[int | None, date], ProviderMonth] = {}
    counted = list(counts)
    providers = {
        provider.pk: provider
        for provider in Provider.objects.filter(
            pk__in={row["rendering_provider"] for row in counted} - {None}
        )
    }

    def row_for(provider_id: int | None, month: date) -> ProviderMonth:
        key = (provider_id, month)
        if key not in rows:
            provider = providers.get(provider_id) if provider_id else None
            rows[key] = ProviderMonth(
                provider_id=provider_id,
                provider_name=provider.display_name if provider else _("No provider"),
                npi=provider.npi if provider else "",
                month=month,
            )
        return rows[key]

    for row in counted:
        total = row_for(row["rendering_provider"], _as_date(row["month"]))
        total.by_status[row["status"]] = row["count"]
        total.paid += row["paid"] or Decimal(0)
    for row in charges:
        key = (row["encounter__rendering_provider"], _as_date(row["month"]))
        if key in rows:
            rows[key].charges += row["charge"] or Decimal(0)
    # The provider's id after the name: two providers may share a display name, and
    # by_provider groups consecutive rows of one provider.
    return sorted(
        rows.values(), key=lambda r: (r.provider_name.lower(), r.provider_id or 0, r.month)
    )


@dataclass
class ProviderYear:
    """One provider's months and their sum, for a table per provider."""

    provider_name: str
    npi: str
    months: list[ProviderMonth]
    total: ProviderMonth


def by_provider(rows: list[ProviderMonth]) -> list[ProviderYear]:
    """Rows as ordered by provider_month_totals, grouped per provider with a total row."""
    groups: list[ProviderYear] = []
    for row in rows:
        if not groups or groups[-1].months[0].provider_id != row.provider_id:
            total = ProviderMonth(row.provider_id, row.provider_name, row.npi, row.month)
            groups.append(ProviderYear(row.provider_name, row.npi, [], total))
        group = groups[-1]
        group.months.append(row)
        for status, count in row.by_status.items():
            group.total.by_status[status] += count
        group.total.charges += row.charges
        group.total.paid += row.paid
    return groups


def _as_date(value: date | datetime) -> date:
    # TruncMonth of a DateField is a date on PostgreSQL and SQLite alike; be strict anyway.
    return value.date() if isinstance(value, datetime) else value


# --- The encounters as CSV ---------------------------------------------------------------


@dataclass(frozen=True)
class EncounterFilter:
    status: str = ""
    provider: Provider | None = None
    month: date | None = None  # its first day


def encounters_filtered(*, user: User, filters: EncounterFilter) -> QuerySet[Encounter]:
    encounters = encounters_for(user=user).prefetch_related("lines")
    if filters.status:
        encounters = encounters.filter(status=filters.status)
    if filters.provider is not None:
        encounters = encounters.filter(rendering_provider=filters.provider)
    if filters.month is not None:
        encounters = encounters.filter(
            date_of_service__year=filters.month.year, date_of_service__month=filters.month.month
        )
    return encounters.order_by("date_of_service", "pk")


def csv_header() -> list[str]:
    return [
        _("Encounter"),
        _("Date of service"),
        _("Patient"),
        _("Provider"),
        _("NPI"),
        _("Kind"),
        _("Status"),
        _("Codes"),
        _("Units"),
        _("Charge"),
        _("Paid"),
        _("Payer"),
        _("Claim number"),
        _("Payer claim number"),
    ]


def code_with_modifiers(line: ClaimLine) -> str:
    return "-".join([line.code, *line.modifiers])


def csv_row(encounter: Encounter) -> list[str | int | Decimal]:
    """One encounter: its lines' codes and units side by side, "; " between lines."""
    lines = list(encounter.lines.all())
    provider = encounter.rendering_provider
    return [
        encounter.pk,
        encounter.date_of_service.isoformat(),
        encounter.patient.legal_name,
        provider.display_name if provider else "",
        provider.npi if provider else "",
        encounter.get_kind_display(),
        encounter.get_status_display(),
        "; ".join(code_with_modifiers(line) for line in lines),
        "; ".join(str(line.units) for line in lines),
        sum((line.charge for line in lines), Decimal("0.00")),
        "" if encounter.paid_amount is None else encounter.paid_amount,
        encounter.payer.name if encounter.payer else "",
        encounter.claim_number,
        encounter.payer_claim_number,
    ]


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"). Text from people or payers (a patient's name, a payer's claim number) is
# prefixed with an apostrophe; numbers we format ourselves (ids, money, even a negative
# payment reversal) stay numbers.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def encounters_csv_export(*, by: User, filters: EncounterFilter, request=None) -> str:
    """The encounters the user may see, filtered, as CSV text; records one export event per
    encounter (with its patient, so each patient's access log shows it), in one transaction.
    The only write here: the audit of a file that leaves the application."""
    encounters = list(
        encounters_filtered(user=by, filters=filters).select_related(
            "patient", "rendering_provider", "payer"
        )
    )
    text = csv_text([csv_header(), *(csv_row(encounter) for encounter in encounters)])
    # Ids and codes only: the audit's detail never carries PHI.
    provider = filters.provider.pk if filters.provider else "any"
    month = f"{filters.month:%Y-%m}" if filters.month else "any"
    detail = (
        f"encounters CSV, {len(encounters)} rows; status={filters.status or 'any'}, "
        f"provider={provider}, month={month}"
    )
    with transaction.atomic():
        if encounters:
            audit.record_many(
                action=Action.EXPORT,
                actor=by,
                objects=[(encounter, encounter.patient) for encounter in encounters],
                request=request,
                detail=detail,
            )
        else:
            audit.record(action=Action.EXPORT, actor=by, request=request, detail=detail)
    return text


# --- Monitoring close to a threshold -----------------------------------------------------


@dataclass(frozen=True)
class DueRow:
    patient: Patient
    standing: progress.MonitoringStanding


def monitoring_standings(
    *, user: User, patients: QuerySet[Patient] | None = None, now: datetime | None = None
) -> list[DueRow]:
    """Every patient this user monitors (or the given ones among them), with where their
    current period and month stand. A fixed number of queries, whatever the patients: the
    episodes, then everyone's readings since the earliest current period began and everyone's
    time this month (a user's patients share one practice, so one "today")."""
    now = now or timezone.now()
    visible = rpm_selectors.monitored_patients(user)
    if patients is not None:
        visible = visible.filter(pk__in=patients.values("pk"))
    current = []
    for episode in rpm_selectors.monitoring_episodes(patients=visible):
        today = timezone.localtime(now, episode.patient.practice.zone).date()
        if episode.start <= today:  # enrolled from a later day: nothing to count yet
            current.append(
                (episode, today, monitoring.period_containing(start=episode.start, day=today))
            )
    if not current:
        return []
    everyone = [episode.patient for episode, _today, _period in current]
    latest = max(today for _episode, today, _period in current)
    readings = rpm_selectors.reading_dates_by_patient(
        patients=everyone, first=min(period.start for *_rest, period in current), last=latest
    )
    first_of_month = min(today for _episode, today, _period in current).replace(day=1)
    entries: dict[int, list[TimeEntry]] = {}
    for log in rpm_selectors.time_logs_of(patients=everyone, first=first_of_month, last=latest):
        entries.setdefault(log.patient_id, []).append(
            TimeEntry(
                day=log.day,
                minutes=log.minutes,
                interactive=log.kind == TimeLog.Kind.INTERACTIVE,
                practitioner=log.clinician_id,
                practitioner_name=log.clinician.full_name,
            )
        )
    rows = []
    for episode, today, _period in current:
        patient = episode.patient
        standing = progress.standing(
            start=episode.start,
            readings=readings.get(patient.pk, {}),
            entries=entries.get(patient.pk, []),
            today=today,
        )
        rows.append(DueRow(patient, standing))
    return rows


def monitoring_due(*, user: User, now: datetime | None = None) -> list[DueRow]:
    """The monitored patients with a threshold close (billing.progress.DUE_WINDOW): the ones
    whose period ends soonest first, then by name."""
    rows = [row for row in monitoring_standings(user=user, now=now) if row.standing.close]
    return sorted(rows, key=lambda r: (r.standing.period.end, r.patient.legal_name))


def monitoring_standing_of(
    *, user: User, patient: Patient, now: datetime | None = None
) -> progress.MonitoringStanding | None:
    """One patient's standing, for rpm's patient page; None when not monitored today."""
    rows = monitoring_standings(user=user, patients=Patient.objects.filter(pk=patient.pk), now=now)
    return rows[0].standing if rows else None
