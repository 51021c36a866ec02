"""The patient's appointments page as plain strings, one bounded page of each list.

Each row's day, time, names and links are formatted here once, instead of through
`{% timezone %}`, date filters, `{% url %}` and `{% blocktranslate %}` per row: the
translations, the zone and the link paths are looked up once per page. The strings are those
the template's filters gave (`date:"l j F"`, `time:"TIME_FORMAT"`, `date:"j M Y"` in the
practice's zone). Past visits come a page at a time, newest first, so the page does not grow
with a patient's history; upcoming ones too, for a patient booked far ahead."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connections
from django.db.models import Q, QuerySet, Value
from django.urls import reverse
from django.utils import formats, translation
from django.utils.dates import MONTHS, MONTHS_3, WEEKDAYS
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from scheduling import links as scheduling_links
from scheduling import selectors
from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentType, Modality, Status
from telehealth import links

UPCOMING_PAGE = 20
PAST_PAGE = 10
# The columns the rows show, read as plain values: no model instance of the appointment, its
# provider, visit type and practice per row (building those, and compiling the joins that
# load whole rows, was most of the page's time), and nothing encrypted.
SHOWN_COLUMNS = (
    "pk",
    "start",
    "status",
    "modality",
    "patient_id",
    "practice__time_zone",
    "provider__display_name",
    "appointment_type__name",
    "appointment_type__name_es",
)
# Read with each row: its manage and join links' versions (for past rows, which show no link,
# 0), and which list it belongs to, when both lists come in one query.
ROW_COLUMNS = (*SHOWN_COLUMNS, "manage_version", "join_version", "upcoming")


@dataclass(frozen=True)
class Cursor:
    """Where a page of the list ends: the last row's start and id (ids break ties)."""

    start: datetime
    pk: int

    def __str__(self) -> str:
        return f"{self.start.astimezone(UTC).isoformat()}_{self.pk}"

    @classmethod
    def parse(cls, value: str) -> "Cursor":
        """Raises ValueError for anything but what `str` gives."""
        start_text, _sep, pk_text = value.rpartition("_")
        start = datetime.fromisoformat(start_text)
        if start.tzinfo is None or not (pk_text.isascii() and pk_text.isdigit()):
            raise ValueError(value)
        if len(pk_text) > 18:  # beyond a bigint
            raise ValueError(value)
        try:  # a time at the end of the calendar cannot be written in UTC or queried
            start = start.astimezone(UTC)
        except OverflowError as error:
            raise ValueError(value) from error
        return cls(start, int(pk_text))


@dataclass(frozen=True)
class UpcomingRow:
    appointment: Appointment
    day: str
    time: str
    what: str  # visit type · provider
    manage_path: str
    join_path: str  # "" unless a video visit
    join_label: str  # what "Join" is for, for screen readers


@dataclass(frozen=True)
class PastRow:
    appointment: Appointment
    day: str
    what: str
    status: str


@dataclass(frozen=True)
class AppointmentsPage:
    upcoming: list[UpcomingRow]
    past: list[PastRow]
    later_query: str  # "?…" of the next page of upcoming visits, or ""
    older_query: str  # "?…" of the next page of past visits, or ""
    paged: bool  # showing a later page of either list

    @property
    def shown(self) -> list[Appointment]:
        return [row.appointment for row in self.upcoming] + [row.appointment for row in self.past]


@dataclass(frozen=True)
class _Shown:
    """One row's values: the appointment (its shown fields loaded, the others deferred, as
    `.only()` gives) and the names and zone it is shown with."""

    appointment: Appointment
    time_zone: str
    provider: str
    kind: tuple[str, str]  # the visit type's name and Spanish name


# The appointment's loaded fields, in the model's field order (as `from_db` takes them).
_LOADED = tuple(
    field.attname
    for field in Appointment._meta.concrete_fields
    if field.attname in {"id", "start", "status", "modality", "patient_id"}
)


def _shown(values: tuple, db: str) -> _Shown:
    pk, start, status, modality, patient_id, time_zone, provider, name, name_es = values[:9]
    loaded = dict(id=pk, start=start, status=status, modality=modality, patient_id=patient_id)
    appointment = Appointment.from_db(db, _LOADED, [loaded[field] for field in _LOADED])
    return _Shown(appointment, time_zone, provider, (name, name_es))


def _rows(upcoming: QuerySet, past: QuerySet) -> tuple[list[tuple], list[tuple]]:
    """A page of each list, one row more to know whether a next page exists (the databases
    other than PostgreSQL: SQLite cannot order and limit each part of a UNION)."""
    return list(upcoming[: UPCOMING_PAGE + 1]), list(past[: PAST_PAGE + 1])


# The same rows as the ORM's queries in `_queries`, written out: on PostgreSQL the page is
# read by this one statement, compiled by no one. Building and compiling the ORM's UNION (two
# parts, four joins each, two link-version subqueries) cost more CPU than the rest of the page
# together, on every request. It finds the user's patient record in a subquery, where the ORM
# joins the patient, and reads the names by their keys in scalar subqueries rather than joins:
# PostgreSQL plans it in about 0.2 ms, where it took 0.67 ms to plan the joins (measured warm;
# planning was most of the database's time for the page). The ORM queries stay the
# reference: tests/scheduling/test_my_appointments.py checks both give the same rows.
_PART = """
    SELECT a.id, a.start, a.status, a.modality, a.patient_id,
           (SELECT pr.time_zone FROM accounts_practice pr WHERE pr.id = a.practice_id),
           (SELECT p.display_name FROM accounts_provider p WHERE p.id = a.provider_id),
           (SELECT t.name FROM scheduling_appointmenttype t WHERE t.id = a.appointment_type_id),
           (SELECT t.name_es FROM scheduling_appointmenttype t
            WHERE t.id = a.appointment_type_id),
           {versions}
    FROM scheduling_appointment a
    WHERE a.patient_id = (SELECT pt.id FROM accounts_patient pt WHERE pt.user_id = %s)
      AND {where}
    ORDER BY a.start {order}, a.id {order} LIMIT %s"""
_VERSION = (
    "COALESCE((SELECT v.version FROM accounts_linkversion v"
    " WHERE v.kind = %s AND v.object_id = a.id), 1)"
)
_UPCOMING = _PART.format(
    versions=f"{_VERSION}, {_VERSION}, true",
    where='a."end" >= %s AND a.status = ANY(%s){cursor}',
    order="ASC",
)
_PAST = _PART.format(versions="0, 0, false", where='a."end" < %s{cursor}', order="DESC")
_AFTER = " AND (a.start > %s OR (a.start = %s AND a.id > %s))"
_BEFORE = " AND (a.start < %s OR (a.start = %s AND a.id < %s))"


def _rows_postgresql(
    *, user, now: datetime, after: Cursor | None, before: Cursor | None
) -> tuple[list[tuple], list[tuple]]:
    """`_rows` of the ORM's queries, in one hand-written statement: the rows of the user's own
    patient record as the database has it now, which is what
    `selectors.appointments_visible_to` gives a patient (`patient__user=user`)."""
    upcoming_params: list[Any] = [
        links.get(scheduling_links.MANAGE).name,
        links.get(scheduling_links.JOIN).name,
        user.pk,
        now,
        list(ACTIVE_STATUSES),
    ]
    past_params: list[Any] = [user.pk, now]
    if after is not None:
        upcoming_params += [after.start, after.start, after.pk]
    if before is not None:
        past_params += [before.start, before.start, before.pk]
    sql = (
        f"({_UPCOMING.format(cursor=_AFTER if after else '')}) UNION ALL "
        f"({_PAST.format(cursor=_BEFORE if before else '')})"
    )
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, [*upcoming_params, UPCOMING_PAGE + 1, *past_params, PAST_PAGE + 1])
        both = cursor.fetchall()
    later = sorted((row for row in both if row[-1]), key=lambda row: (row[1], row[0]))
    earlier = sorted((row for row in both if not row[-1]), key=lambda row: (row[1], row[0]))
    return later, earlier[::-1]


def appointments_page(
    *, user, now: datetime, after: Cursor | None, before: Cursor | None
) -> AppointmentsPage:
    """The signed-in patient's own appointments: upcoming (active, soonest first, from after
    `after`) and past (newest first, from before `before`), with the upcoming rows' link
    versions: one query (two where the database cannot order each part of a UNION)."""
    if connections["default"].vendor == "postgresql":
        upcoming_values, past_values = _rows_postgresql(
            user=user, now=now, after=after, before=before
        )
    else:
        upcoming_values, past_values = _rows(
            *_queries(user=user, now=now, after=after, before=before)
        )
    more_upcoming, more_past = len(upcoming_values) > UPCOMING_PAGE, len(past_values) > PAST_PAGE
    upcoming_values, past_values = upcoming_values[:UPCOMING_PAGE], past_values[:PAST_PAGE]
    upcoming = [_shown(values, "default") for values in upcoming_values]
    past = [_shown(values, "default") for values in past_values]
    return _page(upcoming_values, upcoming, past, more_upcoming, more_past, after, before)


def _queries(
    *, user, now: datetime, after: Cursor | None, before: Cursor | None
) -> tuple[QuerySet, QuerySet]:
    """The page's two lists as the ORM writes them: upcoming and past, each in its order, with
    the columns of `ROW_COLUMNS`."""
    appointments = selectors.appointments_visible_to(user).select_related(None)
    upcoming_rows = appointments.filter(end__gte=now, status__in=ACTIVE_STATUSES).order_by(
        "start", "pk"
    )
    if after is not None:
        upcoming_rows = upcoming_rows.filter(
            Q(start__gt=after.start) | Q(start=after.start, pk__gt=after.pk)
        )
    past_rows = appointments.filter(end__lt=now).order_by("-start", "-pk")
    if before is not None:
        past_rows = past_rows.filter(
            Q(start__lt=before.start) | Q(start=before.start, pk__lt=before.pk)
        )
    upcoming_rows = upcoming_rows.annotate(
        manage_version=links.version_column(scheduling_links.MANAGE),
        join_version=links.version_column(scheduling_links.JOIN),
        upcoming=Value(True),
    )
    past_rows = past_rows.annotate(
        manage_version=Value(0), join_version=Value(0), upcoming=Value(False)
    )
    return upcoming_rows.values_list(*ROW_COLUMNS), past_rows.values_list(*ROW_COLUMNS)


def _page(
    upcoming_values: list[tuple],
    upcoming: list[_Shown],
    past: list[_Shown],
    more_upcoming: bool,
    more_past: bool,
    after: Cursor | None,
    before: Cursor | None,
) -> AppointmentsPage:
    """The page's strings, each looked up once: days, times, names, link paths."""
    manage_tokens = links.tokens_at_versions(
        scheduling_links.MANAGE, {values[0]: values[9] for values in upcoming_values}
    )
    join_tokens = links.tokens_at_versions(
        scheduling_links.JOIN,
        {values[0]: values[10] for values in upcoming_values if values[3] == Modality.VIDEO},
    )
    manage_head, manage_tail = _path_around_token(links.get(scheduling_links.MANAGE).url_name)
    join_head, join_tail = _path_around_token(links.get(scheduling_links.JOIN).url_name)
    language = translation.get_language()
    join_label = _("the video visit on %(day)s")
    zones = _memo(ZoneInfo)
    weekday = _memo(lambda n: str(WEEKDAYS[n]))
    month = _memo(lambda n: str(MONTHS[n]))
    short_month = _memo(lambda n: str(MONTHS_3[n]).title())
    status = _memo(lambda value: str(Status(value).label))
    times: dict[tuple, str] = {}

    def local(row: _Shown) -> datetime:
        return row.appointment.start.astimezone(zones(row.time_zone))

    def day_label(moment: datetime) -> str:  # date:"l j F"
        return f"{weekday(moment.weekday())} {moment.day} {month(moment.month)}"

    def date_label(moment: datetime) -> str:  # date:"j M Y"
        return f"{moment.day} {short_month(moment.month)} {moment.year}"

    def time_label(moment: datetime) -> str:  # time:"TIME_FORMAT"
        key = (moment.hour, moment.minute, moment.utcoffset())
        label = times.get(key)
        if label is None:
            label = times[key] = formats.time_format(moment, "TIME_FORMAT")
        return label

    # The visit type's name in the reader's language, by AppointmentType's own rule.
    kind_name = _memo(
        lambda names: AppointmentType(name=names[0], name_es=names[1]).name_in(language)
    )

    def what(row: _Shown) -> str:
        return f"{kind_name(row.kind)} · {row.provider}"

    upcoming_page = []
    for row in upcoming:
        moment = local(row)
        day = day_label(moment)
        pk = row.appointment.pk
        join = join_tokens.get(pk)
        upcoming_page.append(
            UpcomingRow(
                appointment=row.appointment,
                day=day,
                time=time_label(moment),
                what=what(row),
                manage_path=f"{manage_head}{manage_tokens[pk]}{manage_tail}",
                join_path=f"{join_head}{join}{join_tail}" if join else "",
                join_label=join_label % {"day": day},
            )
        )
    past_page = [
        PastRow(
            appointment=row.appointment,
            day=date_label(local(row)),
            what=what(row),
            status=status(row.appointment.status),
        )
        for row in past
    ]
    # Each list's next page keeps the other list where it is.
    kept = {"after": str(after) if after else "", "before": str(before) if before else ""}

    def next_query(key: str, last: _Shown) -> str:
        query = {**kept, key: str(Cursor(last.appointment.start, last.appointment.pk))}
        return "?" + urlencode({k: v for k, v in query.items() if v})

    return AppointmentsPage(
        upcoming=upcoming_page,
        past=past_page,
        later_query=next_query("after", upcoming[-1]) if more_upcoming else "",
        older_query=next_query("before", past[-1]) if more_past else "",
        paged=after is not None or before is not None,
    )


def _memo(make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`make`, remembering each answer for the page: a name or zone looked up once, not per row."""
    found: dict[Any, Any] = {}

    def get(key: Any) -> Any:
        value = found.get(key)
        if value is None:
            value = found[key] = make(key)
        return value

    return get


def _path_around_token(url_name: str) -> tuple[str, str]:
    """The path of a page that takes a token, split where the token goes: reversed once per
    page, not once per row. Tokens are URL-safe (base64 and ':'), so nothing is quoted."""
    marker = "TOKEN"
    head, tail = reverse(url_name, args=[marker]).split(marker, 1)
    return head, tail
