"""Reads of the schedule: open slots for anyone, appointments scoped to the acting user."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import cast
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.postgres.fields import DateTimeRangeField
from django.db import connection
from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped]
    DateTimeTZRange,
)
from django.db.models import CharField, Count, F, Func, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncWeek
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from scheduling import slot_cache
from scheduling import slots as slot_rules
from scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentType,
    AvailabilityException,
    AvailabilityRule,
)
from telehealth.accounts.models import Practice, Provider, Role, User
from telehealth.accounts.selectors import patients_visible_to, providers_visible_to
from telehealth.aggregates import Percentile, SecondsBetween


@dataclass(frozen=True)
class ProviderSlots:
    provider: Provider
    starts: list[datetime]
    busy: list[tuple[datetime, datetime]]


@cache
def known_time_zones() -> frozenset[str]:
    """Every IANA zone name: reading the zoneinfo tree takes milliseconds, so once a process."""
    return frozenset(sorted(available_timezones()))


def bookable_types(*, practice: Practice, online_only: bool = True) -> QuerySet[AppointmentType]:
    types = AppointmentType.objects.filter(practice=practice, is_active=True)
    if online_only:
        types = types.filter(bookable_online=True)
    return types.prefetch_related("providers").order_by("name")


def providers_for_type(*, appointment_type: AppointmentType) -> QuerySet[Provider]:
    return appointment_type.providers.filter(is_active=True).order_by("display_name")


@dataclass(frozen=True)
class BookingCatalog:
    """What the public booking page and slots API need before any slot: read on every
    request, edited by admins, so cached (slot_cache.catalog) rather than queried each time."""

    version: str  # the catalog token it was read under: part of cache keys built on it
    practice: Practice
    types: list[AppointmentType]  # bookable online, by name
    providers: dict[int, list[Provider]]  # each type's active providers, by display name


def booking_catalog(*, practice_slug: str) -> BookingCatalog:
    """Raises Http404 for an unknown practice."""

    def compute(token: str) -> BookingCatalog | None:
        practice = Practice.objects.filter(slug=practice_slug).first()
        if practice is None:
            return None
        types = list(bookable_types(practice=practice).prefetch_related(None))
        providers: dict[int, list[Provider]] = {t.pk: [] for t in types}
        links = (
            ProviderOffering.objects.filter(appointmenttype__in=types, provider__is_active=True)
            .select_related("provider")
            .order_by("provider__display_name", "provider_id")
        )
        for link in links:
            providers[link.appointmenttype_id].append(link.provider)
        return BookingCatalog(token, practice, types, providers)

    found = slot_cache.catalog(practice_slug, compute)
    if found is None:
        raise Http404("No such practice.")
    return found


def _availability(
    provider: Provider, first: date, last: date
) -> tuple[list[slot_rules.Rule], list[slot_rules.Exception_]]:
    """The provider's weekly rules, and their exceptions dated first..last, in one round trip
    (every slot search and every booking check reads both): a UNION in the rules' columns,
    where an exception has the weekday -1 and its date in valid_from."""
    # One provider's rows, unsorted: the models' ordering leads with the provider, whose own
    # ordering (by name) would join its table in for nothing; Python sorts the few rows.
    rules = (
        AvailabilityRule.objects.filter(provider=provider)
        .annotate(kind_=Value("", output_field=CharField()))
        .order_by()
        .values_list(
            "weekday", "start_time", "end_time", "modalities", "valid_from", "valid_until", "kind_"
        )
    )
    exceptions = (
        AvailabilityException.objects.filter(provider=provider, date__range=(first, last))
        .annotate(weekday_=Value(-1, output_field=IntegerField()))
        .order_by()
        .values_list("weekday_", "start_time", "end_time", "modalities", "date", "date", "kind")
    )
    rows = rules.union(exceptions, all=True)
    found_rules, found_exceptions = [], []
    for weekday, start, end, modalities, valid_from, valid_until, kind in rows:
        if weekday == -1:
            found_exceptions.append(
                slot_rules.Exception_(
                    cast(date, valid_from),  # an exception's date: never null
                    kind == AvailabilityException.Kind.EXTRA,
                    start,
                    end,
                    frozenset(modalities),
                )
            )
        else:
            found_rules.append(
                slot_rules.Rule(weekday, start, end, frozenset(modalities), valid_from, valid_until)
            )
    found_rules.sort(key=lambda rule: (rule.weekday, rule.start))
    found_exceptions.sort(key=lambda exc: (exc.day, exc.start or time.min))
    return found_rules, found_exceptions


class BlockedRange(Func):
    """tstzrange(blocked_start, blocked_end, '[)'): the expression of the exclusion constraint
    (migration 0002), so that on PostgreSQL its GiST index serves overlap searches."""

    function = "tstzrange"
    output_field = DateTimeRangeField()

    def __init__(self) -> None:
        super().__init__(F("blocked_start"), F("blocked_end"), Value("[)"))


def busy_blocks(
    *, provider: Provider, start: datetime, end: datetime, exclude_id: int | None = None
) -> list[tuple[datetime, datetime]]:
    appointments = Appointment.objects.filter(provider=provider, status__in=ACTIVE_STATUSES)
    if connection.vendor == "postgresql":
        # A plain pair of comparisons on the two columns has no index to use and reads the
        # provider's whole history; the range overlap is what the constraint's index serves.
        appointments = appointments.alias(blocked=BlockedRange()).filter(
            blocked__overlap=DateTimeTZRange(start, end, "[)")
        )
    else:
        appointments = appointments.filter(blocked_start__lt=end, blocked_end__gt=start)
    if exclude_id is not None:
        appointments = appointments.exclude(pk=exclude_id)
    return list(appointments.values_list("blocked_start", "blocked_end"))


def booking_bounds(appointment_type: AppointmentType, now: datetime) -> tuple[datetime, datetime]:
    earliest = now + timedelta(minutes=appointment_type.minimum_notice_minutes)
    latest = now + timedelta(days=appointment_type.booking_horizon_days)
    return earliest, latest


def slot_shape(appointment_type: AppointmentType) -> tuple:
    """Every field of a type that its open times depend on, for cache keys."""
    kind = appointment_type
    return (
        kind.pk,
        kind.modality,
        kind.duration_minutes,
        kind.buffer_before_minutes,
        kind.buffer_after_minutes,
        kind.minimum_notice_minutes,
        kind.booking_horizon_days,
    )


def minute_bounds(appointment_type: AppointmentType, minute: datetime) -> tuple[datetime, datetime]:
    """Booking bounds that hold for the whole of `minute` (a time on the minute): the notice
    counted from its end, the horizon from its start. A page cached for the minute then never
    offers a time too soon or too far, at worst hides one for less than a minute."""
    earliest = booking_bounds(appointment_type, minute + timedelta(minutes=1))[0]
    latest = booking_bounds(appointment_type, minute)[1]
    return earliest, latest


def open_slots(
    *,
    provider: Provider,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    exclude_appointment_id: int | None = None,
    ignore_busy: bool = False,
) -> ProviderSlots:
    """Open start times for one provider and type between two instants (UTC).

    `ignore_busy` skips existing appointments: for callers that let the database's exclusion
    constraint judge overlaps."""
    now = now or timezone.now()
    earliest, latest = booking_bounds(appointment_type, now)
    earliest, latest = max(earliest, start), min(latest, end)
    if earliest > latest:
        return ProviderSlots(provider, [], [])
    return _slots_between(
        provider,
        appointment_type,
        earliest,
        latest,
        exclude_appointment_id=exclude_appointment_id,
        ignore_busy=ignore_busy,
    )


def _slots_between(
    provider: Provider,
    appointment_type: AppointmentType,
    earliest: datetime,
    latest: datetime,
    *,
    exclude_appointment_id: int | None = None,
    ignore_busy: bool = False,
) -> ProviderSlots:
    zone = ZoneInfo(provider.time_zone)
    # One local day of margin each side: windows are built per local date.
    first_day = earliest.astimezone(zone).date() - timedelta(days=1)
    last_day = latest.astimezone(zone).date() + timedelta(days=1)
    rules, exceptions = _availability(provider, first_day, last_day)
    windows = slot_rules.windows_for(
        rules=rules,
        exceptions=exceptions,
        zone=zone,
        first_day=first_day,
        last_day=last_day,
    )
    pad = timedelta(hours=12)
    busy = (
        []
        if ignore_busy
        else busy_blocks(
            provider=provider,
            start=earliest - pad,
            end=latest + pad,
            exclude_id=exclude_appointment_id,
        )
    )
    starts = slot_rules.open_slots(
        windows=windows,
        busy=busy,
        modality=appointment_type.modality,
        duration=appointment_type.duration,
        buffer_before=timedelta(minutes=appointment_type.buffer_before_minutes),
        buffer_after=timedelta(minutes=appointment_type.buffer_after_minutes),
        earliest=earliest,
        latest=latest,
    )
    return ProviderSlots(provider, starts, busy)


def cached_open_slots(
    *,
    providers: list[Provider],
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    bounds: tuple[datetime, datetime] | None = None,
) -> list[ProviderSlots]:
    """open_slots for several providers, through the short-lived slot cache: for pages that
    show times, never for checks before a write. The cache holds the slots of the whole span;
    the booking notice and horizon (`bounds`, by default booking_bounds now), which move with
    the clock, are applied after."""
    earliest, latest = bounds or booking_bounds(appointment_type, timezone.now())
    earliest, latest = max(earliest, start), min(latest, end)
    if earliest > latest:
        return [ProviderSlots(p, [], []) for p in providers]
    tokens = slot_cache.versions(p.pk for p in providers)
    kind = appointment_type
    shape = (
        f"{kind.pk}:{kind.modality}:{kind.duration_minutes}:{kind.buffer_before_minutes}:"
        f"{kind.buffer_after_minutes}:{start.timestamp():.0f}:{end.timestamp():.0f}"
    )
    keys = {
        p: f"slots:{p.pk}:{tokens[p.pk]}:{p.time_zone}:{p.is_active}:{shape}" for p in providers
    }

    def compute(provider: Provider) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
        found = _slots_between(provider, kind, start, end)
        return found.starts, found.busy

    cached = slot_cache.get_many(keys, compute)
    return [
        ProviderSlots(p, [s for s in cached[p][0] if earliest <= s <= latest], cached[p][1])
        for p in providers
    ]


def day_bounds(day: date, zone: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    """The UTC instants at which local `day` starts and `days` later ends."""
    start = slot_rules.local_to_utc(day, datetime.min.time(), zone)
    end = slot_rules.local_to_utc(day + timedelta(days=days), datetime.min.time(), zone)
    return start, end


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    """Patients: their own. Clinicians: their own schedule and their care team's patients.
    Front desk and admins: the practice's."""
    appointments = Appointment.objects.select_related(
        "provider", "patient", "appointment_type", "practice"
    )
    if not user.is_authenticated:
        return appointments.none()
    if user.role == Role.PATIENT:
        return appointments.filter(patient__user=user)
    if user.practice_id is None:
        return appointments.none()
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return appointments.filter(practice_id=user.practice_id)
    if user.role == Role.CLINICIAN:
        return appointments.filter(practice_id=user.practice_id).filter(
            patient__in=patients_visible_to(user)
        ) | appointments.filter(provider__user=user)
    return appointments.none()


# A provider offering an appointment type: the row of that many-to-many link is what the FHIR
# API serves as a Schedule (its time, its slot length and modality are this pair's).
ProviderOffering = AppointmentType.providers.through


def offerings_visible_to(user: User) -> QuerySet:
    """The (provider, appointment type) pairs of the practice the user works in or is a
    patient of; open slots are public, so every role of the practice sees them all."""
    return ProviderOffering.objects.filter(
        provider__in=providers_visible_to(user),
        appointmenttype__practice_id=F("provider__practice_id"),
    ).select_related("provider__practice", "appointmenttype")


def access_offering(*, user: User, offering_id: int):
    return get_object_or_404(offerings_visible_to(user), pk=offering_id)


def access_appointment(*, user: User, appointment_id: int) -> Appointment:
    return get_object_or_404(appointments_visible_to(user), pk=appointment_id)


def practice_schedule(
    *, user: User, start: datetime, end: datetime, provider_id: int | None = None
) -> QuerySet[Appointment]:
    appointments = appointments_visible_to(user).filter(start__lt=end, end__gt=start)
    if user.role == Role.PATIENT:
        return appointments.none()
    if provider_id:
        appointments = appointments.filter(provider_id=provider_id)
    return appointments.order_by("start")


@dataclass(frozen=True)
class OfferedSlot:
    start: datetime
    provider: Provider


@dataclass(frozen=True)
class SlotOffer:
    suggested: list[OfferedSlot]
    by_day: list[tuple[date, list[OfferedSlot]]]


def slot_offer(
    *,
    appointment_type: AppointmentType,
    providers: list[Provider],
    first_day: date,
    days: int,
    zone: ZoneInfo,
    preference: str = "",
    bounds: tuple[datetime, datetime] | None = None,
) -> SlotOffer:
    """Open slots of several providers over `days` local days in the viewer's zone, with the
    top three suggestions first. `bounds`: as for cached_open_slots."""
    start, end = day_bounds(first_day, zone, days)
    offered: list[OfferedSlot] = []
    suggestions: list[OfferedSlot] = []
    for found in cached_open_slots(
        providers=providers,
        appointment_type=appointment_type,
        start=start,
        end=end,
        bounds=bounds,
    ):
        provider = found.provider
        offered += [OfferedSlot(s, provider) for s in found.starts]
        top = slot_rules.suggest(
            found.starts,
            busy=found.busy,
            duration=appointment_type.duration,
            zone=zone,
            preference=preference,
        )
        suggestions += [OfferedSlot(s, provider) for s in top]
    suggestions.sort(key=lambda o: (o.start.astimezone(zone).date(), o.start))
    by_day: dict[date, list[OfferedSlot]] = {}
    for slot in sorted(offered, key=lambda o: (o.start, o.provider.display_name)):
        by_day.setdefault(slot.start.astimezone(zone).date(), []).append(slot)
    return SlotOffer(suggested=suggestions[:3], by_day=sorted(by_day.items()))


# --- Practice figures (read by analytics) ------------------------------------------------


def _practice_of_admin(user: User) -> int | None:
    """Practice-wide figures are an admin's: other roles get none."""
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN:
        return None
    return user.practice_id


@dataclass(frozen=True)
class AppointmentCounts:
    """Appointments of one group as the practice's figures see them: no patient, no text."""

    booked: int
    completed: int
    cancelled: int
    no_show: int
    held_minutes: float  # minutes of those not cancelled
    self_booked: int  # booked by the patient (online, by text, a waitlist offer)


NO_APPOINTMENTS = AppointmentCounts(0, 0, 0, 0, 0.0, 0)


@dataclass(frozen=True)
class AppointmentFigures:
    total: AppointmentCounts
    lead_days_median: float | None  # booking to start
    before: AppointmentCounts  # starting before `split`
    after: AppointmentCounts  # starting at or after it
    by_week: dict[date, AppointmentCounts]  # by the local Monday of the start's week
    by_provider: dict[int, AppointmentCounts]
    by_via: dict[str, int]


def _appointment_counts(prefix: str = "", where: Q | None = None) -> dict:
    def only(q: Q) -> Q:
        return q if where is None else q & where

    cancelled = Q(status="cancelled")
    return {
        f"{prefix}booked": Count("pk", filter=where),
        f"{prefix}completed": Count("pk", filter=only(Q(status="completed"))),
        f"{prefix}cancelled": Count("pk", filter=only(cancelled)),
        f"{prefix}no_show": Count("pk", filter=only(Q(status="no_show"))),
        f"{prefix}held_seconds": Sum(SecondsBetween("end", "start"), filter=only(~cancelled)),
        f"{prefix}self_booked": Count("pk", filter=only(~Q(booked_via="staff"))),
    }


def _counts_of(row: dict, prefix: str = "") -> AppointmentCounts:
    return AppointmentCounts(
        row[f"{prefix}booked"],
        row[f"{prefix}completed"],
        row[f"{prefix}cancelled"],
        row[f"{prefix}no_show"],
        (row[f"{prefix}held_seconds"] or 0) / 60,
        row[f"{prefix}self_booked"],
    )


def appointment_figures(
    *,
    user: User,
    start: datetime,
    end: datetime,
    split: datetime | None = None,
    provider_id: int | None = None,
    modality: str = "",
) -> AppointmentFigures | None:
    """The practice's appointments starting in [start, end), counted in the database: four
    queries whatever the data (None for anyone but a practice admin). Rescheduled ones are
    left out: their replacement is the appointment that counts."""
    practice_id = _practice_of_admin(user)
    if practice_id is None or user.practice is None:
        return None
    rows = Appointment.objects.filter(practice_id=practice_id, start__gte=start, start__lt=end)
    rows = rows.exclude(status="rescheduled").order_by()
    if provider_id:
        rows = rows.filter(provider_id=provider_id)
    if modality:
        rows = rows.filter(modality=modality)
    early = Q(start__lt=split) if split else Q(pk__in=[])
    totals = rows.aggregate(
        **_appointment_counts(),
        **_appointment_counts("before_", early),
        lead_median=Percentile(SecondsBetween("start", "created_at"), 0.5),
    )
    total = _counts_of(totals)
    before = _counts_of(totals, "before_") if split else NO_APPOINTMENTS
    after = AppointmentCounts(
        *(getattr(total, name) - getattr(before, name) for name in total.__dataclass_fields__)
    )
    zone = user.practice.zone
    weeks = (
        rows.annotate(week=TruncWeek("start", tzinfo=zone))
        .values("week")
        .annotate(**_appointment_counts())
    )
    providers = rows.values("provider_id").annotate(**_appointment_counts())
    via = rows.values_list("booked_via").annotate(count=Count("pk"))
    lead = totals["lead_median"]
    return AppointmentFigures(
        total=total,
        lead_days_median=None if lead is None else lead / 86400,
        before=before,
        after=after,
        by_week={row["week"].astimezone(zone).date(): _counts_of(row) for row in weeks},
        by_provider={row["provider_id"]: _counts_of(row) for row in providers},
        by_via=dict(via),
    )


def available_minutes(
    *,
    user: User,
    first_day: date,
    last_day: date,
    provider_id: int | None = None,
    modality: str = "",
) -> dict[int, float]:
    """Minutes of open hours by provider, on the local dates first_day..last_day, of the
    practice's active providers (their availability rules less time off, plus extra hours):
    three queries whatever the number of providers."""
    practice_id = _practice_of_admin(user)
    if practice_id is None:
        return {}
    providers = Provider.objects.filter(practice_id=practice_id, is_active=True)
    if provider_id:
        providers = providers.filter(pk=provider_id)
    zones = dict(providers.order_by().values_list("pk", "time_zone"))
    rules: dict[int, list[slot_rules.Rule]] = {}
    for pk, weekday, start, end, modalities, valid_from, valid_until in (
        AvailabilityRule.objects.filter(provider__in=providers)
        .order_by()
        .values_list(
            "provider_id",
            "weekday",
            "start_time",
            "end_time",
            "modalities",
            "valid_from",
            "valid_until",
        )
    ):
        rules.setdefault(pk, []).append(
            slot_rules.Rule(weekday, start, end, frozenset(modalities), valid_from, valid_until)
        )
    exceptions: dict[int, list[slot_rules.Exception_]] = {}
    for pk, day, kind, off_start, off_end, modalities in (
        AvailabilityException.objects.filter(
            provider__in=providers, date__range=(first_day, last_day)
        )
        .order_by()
        .values_list("provider_id", "date", "kind", "start_time", "end_time", "modalities")
    ):
        exceptions.setdefault(pk, []).append(
            slot_rules.Exception_(
                day,
                kind == AvailabilityException.Kind.EXTRA,
                off_start,
                off_end,
                frozenset(modalities),
            )
        )
    minutes: dict[int, float] = {}
    for pk, zone in zones.items():
        windows = slot_rules.windows_for(
            rules=rules.get(pk, []),
            exceptions=exceptions.get(pk, []),
            zone=ZoneInfo(zone),
            first_day=first_day,
            last_day=last_day,
        )
        minutes[pk] = sum(
            (w.end - w.start).total_seconds() / 60
            for w in windows
            if not modality or modality in w.modalities
        )
    return minutes


def practice_providers(*, user: User) -> QuerySet[Provider]:
    """The practice's providers, for an admin's filters."""
    practice_id = _practice_of_admin(user)
    if practice_id is None:
        return Provider.objects.none()
    return Provider.objects.filter(practice_id=practice_id).order_by("display_name")
