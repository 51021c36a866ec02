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

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import formats, translation
from django.utils.dates import MONTHS, MONTHS_3, WEEKDAYS
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from scheduling import links as scheduling_links
from scheduling import selectors
from scheduling.models import ACTIVE_STATUSES, Appointment, Modality, Status
from telehealth import links

UPCOMING_PAGE = 20
PAST_PAGE = 10
SHOWN_FIELDS = (
    "start",
    "end",
    "status",
    "modality",
    "patient_id",
    "practice__time_zone",
    "provider__display_name",
    "appointment_type__name",
    "appointment_type__name_es",
)


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


def _page(queryset: QuerySet[Appointment], size: int) -> tuple[list[Appointment], bool]:
    rows = list(queryset[: size + 1])
    return rows[:size], len(rows) > size


def appointments_page(
    *, user, now: datetime, after: Cursor | None, before: Cursor | None
) -> AppointmentsPage:
    """The signed-in patient's own appointments: upcoming (active, soonest first, from after
    `after`) and past (newest first, from before `before`). Two queries and one for every
    link version."""
    # Only what the rows show: every row is this patient's, so their record is not read (and
    # decrypted) once per row, nor the appointment's encrypted reasons, nor anything else
    # (loading whole rows of four tables was most of the page's time).
    appointments = (
        selectors.appointments_visible_to(user)
        .select_related(None)
        .select_related("provider", "appointment_type", "practice")
        .only(*SHOWN_FIELDS)
    )
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
    upcoming, more_upcoming = _page(upcoming_rows, UPCOMING_PAGE)
    past, more_past = _page(past_rows, PAST_PAGE)

    tokens = links.tokens_for_kinds(
        {
            scheduling_links.MANAGE: upcoming,
            scheduling_links.JOIN: [a for a in upcoming if a.modality == Modality.VIDEO],
        }
    )
    manage_tokens, join_tokens = tokens[scheduling_links.MANAGE], tokens[scheduling_links.JOIN]
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

    def local(appointment: Appointment) -> datetime:
        return appointment.start.astimezone(zones(appointment.practice.time_zone))

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

    def what(appointment: Appointment) -> str:
        kind = appointment.appointment_type.name_in(language)
        return f"{kind} · {appointment.provider.display_name}"

    upcoming_page = []
    for appointment in upcoming:
        moment = local(appointment)
        day = day_label(moment)
        join = join_tokens.get(appointment.pk)
        upcoming_page.append(
            UpcomingRow(
                appointment=appointment,
                day=day,
                time=time_label(moment),
                what=what(appointment),
                manage_path=f"{manage_head}{manage_tokens[appointment.pk]}{manage_tail}",
                join_path=f"{join_head}{join}{join_tail}" if join else "",
                join_label=join_label % {"day": day},
            )
        )
    past_page = [
        PastRow(
            appointment=appointment,
            day=date_label(local(appointment)),
            what=what(appointment),
            status=status(appointment.status),
        )
        for appointment in past
    ]
    # Each list's next page keeps the other list where it is.
    kept = {"after": str(after) if after else "", "before": str(before) if before else ""}

    def next_query(key: str, last: Appointment) -> str:
        query = {**kept, key: str(Cursor(last.start, last.pk))}
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
