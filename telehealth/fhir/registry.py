"""The FHIR resource types the server offers. The core imports no app: each app describes the
resources it owns with a `Mapper` and calls `register(mapper)` in its AppConfig.ready, the way
home panels (telehealth.accounts.home) join theirs. The CapabilityStatement, the read and the
search views are all generated from what is registered here."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Model, QuerySet

# FHIR search parameter types this core parses (https://hl7.org/fhir/R4/search.html).
STRING, TOKEN, DATE, REFERENCE = "string", "token", "date", "reference"
PARAM_TYPES = frozenset({STRING, TOKEN, DATE, REFERENCE})


@dataclass(frozen=True)
class SearchParam:
    type: str
    documentation: str = ""

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ValueError(f"Unsupported search parameter type {self.type!r}")


@dataclass(frozen=True)
class Mapper:
    """One FHIR resource type.

    `lookup(user, id)` returns the model row the user may see (Http404 otherwise: the app's
    access_* selector), `to_fhir(row)` the resource as a dict, `search(user, params)` a
    queryset of the rows the user may see that match the parsed parameters (the core adds
    `_id`, `_lastUpdated`, paging and counting). `model` is the fhir.resources class that
    resources sent are validated with; `to_fhir` must build JSON-ready dicts that the model
    accepts and would write back unchanged (UTC instants with "Z": `instant`), since they are
    served as built (tests/conftest.py checks every one a test builds). `phi_patient(row)`
    names whose PHI a row is (None: not PHI), for the audit trail. `last_updated` is the
    row's field behind meta.lastUpdated and `_lastUpdated` (empty: the parameter is not
    offered)."""

    resource_type: str
    model: Any  # a fhir.resources (pydantic) class
    lookup: Callable[[Any, str], Any]
    to_fhir: Callable[[Any], dict]
    search: Callable[[Any, dict], "QuerySet | Computed"]
    params: dict[str, SearchParam] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    last_updated: str = ""
    phi_patient: Callable[[Any], Model | None] = lambda row: None
    # The ORM path from a row to its patient's id ("pk" for Patient itself; empty: the type is
    # not in the patient compartment). Bulk export of a patient or a group filters by it.
    patient_path: str = ""
    # `_include` values this type answers (e.g. "Appointment:patient"): each maps to a
    # function from the page's rows to the (resource_type, row) pairs to add as includes.
    includes: dict[str, Callable[[list], list[tuple[str, Any]]]] = field(default_factory=dict)
    # Writes, each None when not offered. They run the owning app's service in one
    # transaction and return the row written, or raise FhirError (409 a taken slot, 422 a
    # business rule refused). `create(user, resource)` and `update(user, row, resource)` get
    # a resource the core has already validated with `model` (a dict, as the client sent it).
    create: Callable[[Any, dict], Any] | None = None
    update: Callable[[Any, Any, dict], Any] | None = None
    # The row's version (meta.versionId, ETag W/"v", If-Match); None: not versioned.
    version: Callable[[Any], str] | None = None
    # Logical ids are f"{id_prefix}{pk}". A prefix leaves room for a type whose resources may
    # later come from more than one model (DocumentReference: signed consents, then visit
    # summaries) without changing the ids clients already hold.
    id_prefix: str = ""

    def resource_id(self, row) -> str:
        return f"{self.id_prefix}{row.pk}"

    def pk_of(self, resource_id: str) -> int | None:
        """The row's primary key a logical id names, or None when it names none of ours."""
        if not resource_id.startswith(self.id_prefix):
            return None
        digits = resource_id[len(self.id_prefix) :]
        return row_id(digits)

    def read(self, user, resource_id: str) -> dict:
        """The FHIR JSON of one resource the user may see."""
        return self.to_fhir(self.lookup(user, resource_id))


@dataclass(frozen=True)
class Computed:
    """The answer of a search over resources that are computed, not stored (Slot: free times
    worked out from availability). `rows` are (key, row) pairs sorted by key, keys unique,
    strings of [A-Za-z0-9.-]: the core pages by key as it pages querysets by pk. Such a search
    applies `_id` itself (the core's filter works on querysets only)."""

    rows: list[tuple[str, Any]]


_mappers: dict[str, Mapper] = {}

MAX_ROW_ID = 2**63 - 1  # the largest 64-bit primary key


def row_id(text: str) -> int | None:
    """The database id a FHIR id or reference names, or None when it names no row: only ASCII
    digits within a 64-bit key (a Unicode digit such as "²" or "١", or a number past the
    key's range, matches nothing instead of failing in int() or in the database driver)."""
    if text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_ROW_ID:
        return int(text)
    return None


def register(mapper: Mapper) -> Mapper:
    known = _mappers.get(mapper.resource_type)
    if known is not None and known is not mapper:
        raise ValueError(f"{mapper.resource_type} is already registered")
    _mappers[mapper.resource_type] = mapper
    return mapper


def unregister(resource_type: str) -> None:
    _mappers.pop(resource_type, None)


def mapper_for(resource_type: str) -> Mapper | None:
    return _mappers.get(resource_type)


def registered() -> list[Mapper]:
    return sorted(_mappers.values(), key=lambda m: m.resource_type)


def instant(moment: datetime) -> str:
    """A FHIR instant or dateTime as served: ISO 8601 with "Z" for UTC, as fhir.resources
    writes it (other offsets are kept as they are)."""
    text = moment.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def validated(mapper: Mapper, resource: dict) -> dict:
    """Build the resource with fhir.resources (pydantic raises on anything malformed) and
    return its JSON form, as the model writes it (instants in UTC with "Z", decimals as
    numbers, no nulls). Not on the serving path: the tests hold each mapper to it."""
    built = mapper.model.model_validate(resource)
    return built.model_dump(mode="json", exclude_none=True)
