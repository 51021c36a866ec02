"""Parsing of FHIR search parameters (https://hl7.org/fhir/R4/search.html).

Values arrive typed: a token is `Token(system, code)`, a date is `DateRange` (the interval its
precision covers, with the prefix), a string stays a string. `params[name]` is a list (each
repetition of the parameter, ANDed) of lists (its comma-separated values, ORed)."""

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q, QuerySet

from telehealth.fhir.registry import (
    DATE,
    REFERENCE,
    STRING,
    TOKEN,
    Computed,
    Mapper,
    SearchParam,
    row_id,
)

DEFAULT_COUNT = 50
MAX_COUNT = 200
PREFIXES = ("eq", "ne", "ge", "le", "gt", "lt")
SUPPORTED_PREFIXES = frozenset({"eq", "ge", "le", "gt", "lt"})
CURSOR = "_cursor"  # keyset paging: the last key (pk) of the previous page (next links only)
INCLUDE = "_include"
RESULT_PARAMS = frozenset({"_count", "_summary", CURSOR, "_format", INCLUDE})
_CURSOR_RE = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
CORE_PARAMS = {
    "_id": SearchParam(TOKEN, "Logical id of the resource"),
    "_lastUpdated": SearchParam(DATE, "When the resource last changed"),
}

_DATE_RE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class SearchError(ValueError):
    """A search the server refuses: 400 with this message."""


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str


@dataclass(frozen=True)
class DateRange:
    """The interval [start, end) a FHIR date(Time) value covers at its precision."""

    prefix: str
    start: datetime
    end: datetime
    precision: str  # "year", "month", "day" or "instant"

    def q(self, field: str, *, is_date: bool = False) -> Q:
        """The filter on a model field (a DateField when is_date) for this prefix: eq, the
        value lies in the interval; ge/gt/le/lt against its start or end."""
        start: date | datetime = self.start.date() if is_date else self.start
        end: date | datetime = self.end.date() if is_date else self.end
        if is_date and self.precision == "instant":
            # An instant inside a day: a date field holds the whole day.
            start, end = self.start.date(), self.start.date() + timedelta(days=1)
        return {
            "eq": Q(**{f"{field}__gte": start, f"{field}__lt": end}),
            "ge": Q(**{f"{field}__gte": start}),
            "gt": Q(**{f"{field}__gte": end}),
            "le": Q(**{f"{field}__lt": end}),
            "lt": Q(**{f"{field}__lt": start}),
        }[self.prefix]


def parse_date(raw: str, *, name: str) -> DateRange:
    prefix = raw[:2] if raw[:2] in PREFIXES else "eq"
    value = raw[2:] if raw[:2] in PREFIXES else raw
    if prefix not in SUPPORTED_PREFIXES:
        raise SearchError(f"Prefix {prefix!r} is not supported for {name}")
    match = _DATE_RE.match(value)
    if match is None:
        raise SearchError(f"{name}: {value!r} is not a FHIR date or dateTime")
    try:
        return _date_range(prefix, value, match, name=name)
    except (ValueError, OverflowError) as error:
        if isinstance(error, SearchError):
            raise
        raise SearchError(f"{name}: {value!r} is not a valid date") from None


def _date_range(prefix: str, value: str, match: re.Match, *, name: str) -> DateRange:
    """The interval of a matched date; ValueError or OverflowError for one that does not
    exist or whose interval runs past the calendar (9999-12-31)."""
    year = int(match["year"])
    if match["month"] is None:
        start = datetime(year, 1, 1, tzinfo=UTC)
        return DateRange(prefix, start, start.replace(year=year + 1), "year")
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        days = calendar.monthrange(year, month)[1]
        return DateRange(prefix, start, start + timedelta(days=days), "month")
    day = datetime(year, month, int(match["day"]), tzinfo=UTC)
    if match["time"] is None:
        return DateRange(prefix, day, day + timedelta(days=1), "day")
    if match["tz"] is None:
        raise SearchError(f"{name}: a time needs a zone (Z or ±hh:mm)")
    instant = datetime.fromisoformat(f"{value[:10]}T{match['time']}{match['tz']}")
    # Seconds precision (or finer when given): the instant covers until the next unit.
    step = timedelta(seconds=1) if match["time"].count(":") == 2 else timedelta(minutes=1)
    if "." in match["time"]:
        step = timedelta(microseconds=1)
    return DateRange(prefix, instant.astimezone(UTC), instant.astimezone(UTC) + step, "instant")


def parse_token(raw: str) -> Token:
    if "|" in raw:
        system, code = raw.split("|", 1)
        return Token(system, code)
    return Token(None, raw)


class Reference(str):
    """A reference parameter's value: the id (the str itself), with the type it was given
    with in `resource_type` ("Patient" for "Patient/5"; None for a bare id)."""

    resource_type: str | None = None


# What FHIR says these reference parameters point at: a value naming another type
# (`patient=Practitioner/5`) matches nothing, instead of being read as patient 5.
REFERENCE_TARGETS = {
    "patient": ("Patient",),
    "subject": ("Patient",),  # every subject here is a patient
    "beneficiary": ("Patient",),
    "practitioner": ("Practitioner", "PractitionerRole"),
}


def _of_target(reference: Reference, targets: tuple[str, ...]) -> Reference:
    if reference.resource_type is None or not targets or reference.resource_type in targets:
        return reference
    nothing = Reference("")  # names no row: every mapper's id parsing finds none
    nothing.resource_type = reference.resource_type
    return nothing


def parse_reference(raw: str) -> Reference:
    resource_type, _slash, resource_id = raw.rpartition("/")
    reference = Reference(resource_id)
    # The type is the segment before the id, also in a full URL (…/fhir/R4/Patient/5).
    reference.resource_type = resource_type.rsplit("/", 1)[-1] or None
    return reference


@dataclass
class Search:
    params: dict[str, list[list]]
    count: int
    summary_count: bool
    cursor: str | None
    query: list[tuple[str, str]]  # the parameters as given, without paging (for links)
    includes: list[str] = field(default_factory=list)  # `_include` values, each one offered


def _split(value: str) -> list[str]:
    # Commas separate OR values; "\," is a literal comma.
    parts = re.split(r"(?<!\\),", value)
    return [part.replace("\\,", ",") for part in parts]


def parse(mapper: Mapper, items: list[tuple[str, str]]) -> Search:
    """Parse a search's query string; any parameter the type does not support is an error
    naming it, never ignored."""
    known = {**CORE_PARAMS, **mapper.params}
    if not mapper.last_updated:
        known.pop("_lastUpdated")
    params: dict[str, list[list]] = {}
    count, summary_count, cursor = DEFAULT_COUNT, False, None
    query: list[tuple[str, str]] = []
    includes: list[str] = []
    unknown = []
    for name, value in items:
        if name in RESULT_PARAMS:
            if name == "_count":
                if not value.isascii() or not value.isdigit():
                    raise SearchError(f"_count must be a whole number, not {value!r}")
                count = min(int(value), MAX_COUNT)
                if count == 0:
                    summary_count = True
            elif name == "_summary":
                if value != "count":
                    raise SearchError(f"_summary={value} is not supported (only _summary=count)")
                summary_count = True
            elif name == CURSOR:
                if not _CURSOR_RE.match(value):
                    raise SearchError(f"{CURSOR} must be a key from a next link")
                cursor = value
            elif name == INCLUDE:
                if value not in mapper.includes:
                    offered = ", ".join(sorted(mapper.includes)) or "none"
                    raise SearchError(f"_include={value} is not supported (offered: {offered})")
                if value not in includes:
                    includes.append(value)
            elif name == "_format" and value not in ("json", "application/fhir+json"):
                raise SearchError(f"_format={value} is not supported (only json)")
            if name not in (CURSOR, "_count"):
                query.append((name, value))
            continue
        param = known.get(name)
        if param is None:
            unknown.append(name)
            continue
        if value == "":
            raise SearchError(f"{name} needs a value")
        values: list = _split(value)
        if param.type == TOKEN:
            values = [parse_token(v) for v in values]
        elif param.type == DATE:
            values = [parse_date(v, name=name) for v in values]
        elif param.type == REFERENCE:
            targets = REFERENCE_TARGETS.get(name, ())
            values = [_of_target(parse_reference(v), targets) for v in values]
        elif param.type == STRING:
            values = [v.strip() for v in values]
        params.setdefault(name, []).append(values)
        query.append((name, value))
    if unknown:
        names = ", ".join(sorted(set(unknown)))
        raise SearchError(f"Unknown search parameter for {mapper.resource_type}: {names}")
    return Search(params, count, summary_count, cursor, query, includes)


def any_of(values: list, build) -> Q:
    """OR the filter `build(value)` over a parameter's comma-separated values."""
    q = Q(pk__in=[])
    for value in values:
        q |= build(value)
    return q


def core_filter(mapper: Mapper, search: Search) -> Q:
    """`_id` and `_lastUpdated`, which every type gets from the core."""
    q = Q()
    for values in search.params.get("_id", []):
        ids = [pk for v in values if (pk := mapper.pk_of(v.code)) is not None]
        q &= Q(pk__in=ids)
    for values in search.params.get("_lastUpdated", []):
        q &= any_of(values, lambda v: v.q(mapper.last_updated))
    return q


def page(
    mapper: Mapper, found: QuerySet | Computed, search: Search
) -> tuple[int, list, str | None]:
    """The total, the page's rows and the cursor after them (None: no further page). A
    queryset gets the core's filters and pages by pk; a Computed list pages by its keys."""
    if isinstance(found, Computed):
        rows = [
            (key, row) for key, row in found.rows if search.cursor is None or key > search.cursor
        ]
        total = len(found.rows)
    else:
        cursor = None if search.cursor is None else row_id(search.cursor)
        if search.cursor is not None and cursor is None:
            raise SearchError(f"{CURSOR} must be an id from a next link")
        found = found.filter(core_filter(mapper, search))
        total = found.count()
        if search.summary_count:
            return total, [], None
        ordered = found.order_by("pk")
        if cursor is not None:
            ordered = ordered.filter(pk__gt=cursor)
        rows = [(str(row.pk), row) for row in ordered[: search.count + 1]]
    if search.summary_count:
        return total, [], None
    more, rows = len(rows) > search.count, rows[: search.count]
    return total, [row for _key, row in rows], rows[-1][0] if more else None
