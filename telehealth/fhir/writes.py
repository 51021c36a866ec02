"""Writes through the FHIR API: create (`POST [type]`, conditional with If-None-Exist), update
(`PUT [type]/[id]`, guarded by If-Match) and `transaction` or `batch` Bundles (`POST` to the
base). The core reads and checks the body against the type's fhir.resources model; the owning
app's mapper (`Mapper.create`, `Mapper.update`) writes through that app's services and returns
the row, or raises FhirError.

Statuses, after https://hl7.org/fhir/R4/http.html: a body that is not JSON, or not a valid
resource of the type the URL names (an unknown element, a wrong value type, another
resourceType, an id that is not the URL's) is 400 Bad Request, the status the specification
gives to a resource that "could not be parsed or failed basic FHIR validation rules"; a valid
resource that our rules refuse (a reading outside the monitoring window, a language we do not
offer) is 422 Unprocessable Entity, raised by the mapper; an If-Match or If-None-Exist that
does not hold is 412. Validation messages name the element's path and the kind of fault,
never the value sent, so no PHI is echoed into responses or logs."""

from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.exceptions import PermissionDenied
from django.db import transaction as db_transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import http_date
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from telehealth import json_input
from telehealth.audit.phi import note_phi_access
from telehealth.fhir import auth as fhir_auth
from telehealth.fhir import search as fhir_search
from telehealth.fhir.registry import Computed, Mapper, mapper_for
from telehealth.fhir.responses import FhirError, fhir_response, operation_outcome

JSON_TYPES = ("application/fhir+json", "application/json")
MAX_PATHS = 10  # validation faults named in one OperationOutcome
URN_PREFIXES = ("urn:uuid:", "urn:oid:")
# A Bundle is one request and (a transaction) one database transaction: bounded.
MAX_BUNDLE_ENTRIES = 500


@dataclass
class Written:
    """What one create or update did: its status (201 created, 200 updated or matched), the
    resource as served, and its version and URL for the headers."""

    status: int
    resource: dict
    version: str | None
    location: str
    last_modified: str | None


# --- Versions -------------------------------------------------------------------------------


def resource_of(mapper: Mapper, row) -> dict:
    """The row as FHIR JSON, with meta.versionId when the type is versioned."""
    resource = mapper.to_fhir(row)
    if mapper.version is not None:
        resource["meta"] = {"versionId": mapper.version(row), **resource.get("meta", {})}
    return resource


def etag(version: str) -> str:
    return f'W/"{version}"'


def with_version_headers(response: HttpResponse, resource: dict) -> HttpResponse:
    """ETag (and Last-Modified) from the resource's meta, as a read or a write serves it."""
    meta = resource.get("meta", {})
    if meta.get("versionId"):
        response["ETag"] = etag(meta["versionId"])
    return response


def _wanted_version(header: str) -> str:
    """The version an If-Match names: W/"3", "3" (and, leniently, 3)."""
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


# --- Bodies ---------------------------------------------------------------------------------


def read_body(request: HttpRequest) -> Any:
    if request.content_type not in JSON_TYPES:
        raise FhirError(415, "Send the resource as application/fhir+json.")
    try:
        return json_input.request_json(request)
    except json_input.JSONInputError as error:
        raise FhirError(400, error.message) from error


def _path(root: str, loc: tuple) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def invalid(error: ValidationError, root: str) -> FhirError:
    """A 400 naming each faulty element by its FHIR path; the values sent are not repeated."""
    faults = []
    for fault in error.errors()[:MAX_PATHS]:
        kind = fault.get("type", "")
        if kind == "extra_forbidden":
            why = "is not an element of this resource in FHIR R4"
        elif kind == "missing":
            why = "is required"
        else:
            why = "does not hold a valid value for its FHIR type"
        faults.append(f"{_path(root, tuple(fault.get('loc', ())))}: {why}")
    more = error.error_count() - len(faults)
    if more > 0:
        faults.append(f"and {more} more")
    return FhirError(400, "; ".join(faults))


def checked(mapper: Mapper, resource: Any, *, root: str = "") -> dict:
    """The resource as sent, once it is an object of the mapper's type that its
    fhir.resources model accepts; FhirError 400 otherwise."""
    where = root or mapper.resource_type
    if not isinstance(resource, dict):
        raise FhirError(400, f"{where}: send a FHIR resource (a JSON object).")
    sent = resource.get("resourceType")
    if sent != mapper.resource_type:
        raise FhirError(
            400,
            f"{where}.resourceType: expected {mapper.resource_type}, "
            f"got {sent if isinstance(sent, str) and sent.isalnum() else 'something else'}.",
        )
    try:
        mapper.model.model_validate(resource)
    except ValidationError as error:
        raise invalid(error, where) from error
    return resource


# --- Create and update ----------------------------------------------------------------------


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("fhir:transaction")).rstrip("/")


def _written(request: HttpRequest, mapper: Mapper, row, status: int) -> Written:
    resource = resource_of(mapper, row)
    version = resource.get("meta", {}).get("versionId")
    location = f"{_base(request)}/{mapper.resource_type}/{row.pk}"
    if version:
        location += f"/_history/{version}"
    return Written(status, resource, version, location, resource.get("meta", {}).get("lastUpdated"))


def _matches(request: HttpRequest, mapper: Mapper, query: str) -> list:
    """The rows an If-None-Exist query finds among those the user may see (two are enough to
    know there is more than one)."""
    query = query.strip()
    if "?" in query:  # "Patient?identifier=..." as well as "identifier=..."
        query = query.split("?", 1)[1]
    items = parse_qsl(query, keep_blank_values=True)
    if not items:
        raise FhirError(400, "If-None-Exist: give the search that finds an existing resource.")
    try:
        parsed = fhir_search.parse(mapper, items)
    except fhir_search.SearchError as error:
        raise FhirError(400, f"If-None-Exist: {error}") from error
    found = mapper.search(request.user, parsed.params)
    if isinstance(found, Computed):  # computed types (Slot) are never created
        raise FhirError(400, f"If-None-Exist is not offered for {mapper.resource_type}.")
    rows = found.filter(fhir_search.core_filter(mapper, parsed))
    return list(rows.order_by("pk")[:2])


def create_one(
    request: HttpRequest, mapper: Mapper, resource: dict, *, if_none_exist: str = ""
) -> Written:
    """Create (the resource already `checked`), or with `if_none_exist` answer the one
    existing match without writing; several matches are 412. Runs in one transaction."""
    if mapper.create is None:
        raise FhirError(405, f"{mapper.resource_type} cannot be created here.")
    # A token's scopes, checked here too for a transaction's entries (the URL names no type).
    fhir_auth.require_scope(request, mapper.resource_type, "c")
    if if_none_exist:
        fhir_auth.require_scope(request, mapper.resource_type, "s")
    with db_transaction.atomic():
        if if_none_exist:
            found = _matches(request, mapper, if_none_exist)
            if len(found) > 1:
                raise FhirError(
                    412, "If-None-Exist: the search finds more than one resource; be more specific."
                )
            if found:
                _note_read(request, mapper, found[0])
                return _written(request, mapper, found[0], 200)
        row = mapper.create(request.user, resource)
        return _written(request, mapper, row, 201)


def update_one(
    request: HttpRequest, mapper: Mapper, resource_id: str, resource: dict, *, if_match: str = ""
) -> Written:
    """Update one resource the user may see (the resource already `checked`). The row is
    locked before If-Match is compared and stays locked until the update commits, so of two
    updates sent with the same If-Match one wins and the other gets 412."""
    if mapper.update is None:
        raise FhirError(405, f"{mapper.resource_type} cannot be updated here.")
    fhir_auth.require_scope(request, mapper.resource_type, "u")
    sent_id = resource.get("id")
    if sent_id != resource_id:
        raise FhirError(
            400, f"{mapper.resource_type}.id: the resource's id must be the one in the URL."
        )
    with db_transaction.atomic():
        found = mapper.lookup(request.user, resource_id)
        row = type(found)._default_manager.select_for_update().get(pk=found.pk)
        if if_match and if_match.strip() != "*":  # "*": any current version (RFC 9110)
            current = mapper.version(row) if mapper.version is not None else None
            if current is None or current != _wanted_version(if_match):
                raise FhirError(
                    412,
                    "If-Match: the resource has changed since that version; read it again.",
                )
        row = mapper.update(request.user, row, resource)
        return _written(request, mapper, row, 200)


def _note_read(request: HttpRequest, mapper: Mapper, row) -> None:
    patient = mapper.phi_patient(row)
    if patient is not None:
        note_phi_access(request, row, patient=patient)


def answer(written: Written) -> HttpResponse:
    response = fhir_response(written.resource, status=written.status)
    if written.version:
        response["ETag"] = etag(written.version)
    if written.status == 201:
        response["Location"] = written.location
    if written.last_modified:
        moment = datetime.fromisoformat(written.last_modified)
        response["Last-Modified"] = http_date(moment.timestamp())
    return response


def create(request: HttpRequest, mapper: Mapper) -> HttpResponse:
    """`POST [base]/[type]`."""
    resource = checked(mapper, read_body(request))
    written = create_one(
        request, mapper, resource, if_none_exist=request.headers.get("If-None-Exist", "")
    )
    return answer(written)


def update(request: HttpRequest, mapper: Mapper, resource_id: str) -> HttpResponse:
    """`PUT [base]/[type]/[id]`."""
    resource = checked(mapper, read_body(request))
    written = update_one(
        request, mapper, resource_id, resource, if_match=request.headers.get("If-Match", "")
    )
    return answer(written)


# --- Transaction and batch Bundles ----------------------------------------------------------


@dataclass
class _Entry:
    index: int
    method: str
    mapper: Mapper
    resource_id: str  # PUT's
    resource: dict
    full_url: str
    if_none_exist: str
    if_match: str


class _EntryFailed(Exception):
    def __init__(self, index: int, error: FhirError):
        super().__init__(error.diagnostics)
        self.index = index
        self.error = error


def _as_fhir_error(error: Exception) -> FhirError:
    if isinstance(error, FhirError):
        return error
    if isinstance(error, PermissionDenied):
        return FhirError(403, str(error) or "You may not write this resource.")
    return FhirError(404, "No such resource, or not yours to see.")


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _entry(index: int, raw: dict, base: str) -> _Entry:
    where = f"Bundle.entry[{index}]"
    request = raw.get("request") or {}
    method = request.get("method")
    if method not in ("POST", "PUT"):
        raise FhirError(
            400, f"{where}.request.method: only POST (create) and PUT (update) are accepted."
        )
    url = request.get("url", "")
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    parts = urlsplit(url)
    if parts.query or parts.scheme:
        raise FhirError(400, f"{where}.request.url: give [type] or [type]/[id], nothing more.")
    segments = parts.path.strip("/").split("/")
    wanted = 1 if method == "POST" else 2
    if len(segments) != wanted or not all(segments):
        shape = "[type]" if method == "POST" else "[type]/[id]"
        raise FhirError(400, f"{where}.request.url: a {method} entry names {shape}.")
    mapper = mapper_for(segments[0])
    if mapper is None:
        raise FhirError(404, f"{where}.request.url: this resource type is not supported here.")
    resource = raw.get("resource")
    if not isinstance(resource, dict):
        raise FhirError(400, f"{where}.resource: a {method} entry carries the resource.")
    checked(mapper, resource, root=f"{where}.resource")
    return _Entry(
        index=index,
        method=method,
        mapper=mapper,
        resource_id=segments[1] if method == "PUT" else "",
        resource=resource,
        full_url=raw.get("fullUrl", ""),
        if_none_exist=request.get("ifNoneExist", ""),
        if_match=request.get("ifMatch", ""),
    )


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            reference = item.get("reference")
            if isinstance(reference, str):
                found.add(reference)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    """A copy with every reference to an entry's temporary fullUrl replaced by the id it got."""
    if isinstance(value, dict):
        copy = {key: _resolve(inner, ids) for key, inner in value.items()}
        if isinstance(copy.get("reference"), str) and copy["reference"] in ids:
            copy["reference"] = ids[copy["reference"]]
        return copy
    if isinstance(value, list):
        return [_resolve(inner, ids) for inner in value]
    return value


def _order(entries: list[_Entry]) -> list[_Entry]:
    """Creates before updates (FHIR's order for a transaction), and a create that refers to
    another entry's temporary fullUrl after that entry: a topological order (Kahn's), each
    entry's references walked once."""
    creates = [e for e in entries if e.method == "POST"]
    by_url: dict[str, _Entry] = {}
    for entry in entries:
        if entry.full_url and entry.full_url in by_url:
            raise FhirError(400, f"Bundle.entry[{entry.index}].fullUrl: it repeats another's.")
        if entry.full_url:
            by_url[entry.full_url] = entry
    waits_for: dict[int, int] = {}
    unblocks: dict[int, list[_Entry]] = {}
    for entry in creates:
        needed = {
            by_url[ref].index
            for ref in _references(entry.resource)
            if _is_temporary(ref) and ref in by_url and by_url[ref].method == "POST"
        }
        waits_for[entry.index] = len(needed)
        for index in needed:
            unblocks.setdefault(index, []).append(entry)
    ready = [e for e in creates if waits_for[e.index] == 0]
    ordered: list[_Entry] = []
    while ready:
        entry = ready.pop(0)
        ordered.append(entry)
        for later in unblocks.get(entry.index, []):
            waits_for[later.index] -= 1
            if waits_for[later.index] == 0:
                ready.append(later)
    if len(ordered) < len(creates):
        stuck = min(e.index for e in creates if waits_for[e.index] > 0)
        raise FhirError(
            400, f"Bundle.entry[{stuck}]: its references to other entries go round in a circle."
        )
    return ordered + [e for e in entries if e.method == "PUT"]


def _is_temporary(full_url: str) -> bool:
    return full_url.startswith(URN_PREFIXES)


def _apply(request: HttpRequest, entry: _Entry, ids: dict[str, str]) -> Written:
    resource = _resolve(entry.resource, ids)
    if entry.method == "POST":
        written = create_one(request, entry.mapper, resource, if_none_exist=entry.if_none_exist)
        if entry.full_url:
            ids[entry.full_url] = f"{entry.mapper.resource_type}/{written.resource['id']}"
        return written
    return update_one(request, entry.mapper, entry.resource_id, resource, if_match=entry.if_match)


def _response_entry(written: Written) -> dict:
    response: dict = {"status": _status_line(written.status), "location": written.location}
    if written.version:
        response["etag"] = etag(written.version)
    if written.last_modified:
        response["lastModified"] = written.last_modified
    return {"fullUrl": written.location.split("/_history/")[0], "resource": written.resource} | {
        "response": response
    }


def bundle(request: HttpRequest) -> HttpResponse:
    """`POST [base]` with a transaction Bundle (all entries or none, in one database
    transaction; a failing entry's status and OperationOutcome answer for the whole) or a
    batch Bundle (each entry on its own, each answered in the response Bundle)."""
    body = read_body(request)
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise FhirError(400, "resourceType: POST to the base takes a Bundle.")
    try:
        Bundle.model_validate(body)
    except ValidationError as error:
        raise invalid(error, "Bundle") from error
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise FhirError(400, "Bundle.type: send a transaction or a batch.")
    base = _base(request)
    raw_entries = body.get("entry") or []
    if len(raw_entries) > MAX_BUNDLE_ENTRIES:
        raise FhirError(
            413, f"Bundle.entry: at most {MAX_BUNDLE_ENTRIES} entries; split the Bundle."
        )
    if kind == "batch":
        return _batch(request, raw_entries, base)
    entries = [_entry(index, raw, base) for index, raw in enumerate(raw_entries)]
    answers: dict[int, Written] = {}
    ids: dict[str, str] = {}
    try:
        with db_transaction.atomic():
            for entry in _order(entries):
                try:
                    answers[entry.index] = _apply(request, entry, ids)
                except (FhirError, PermissionDenied, Http404) as error:
                    raise _EntryFailed(entry.index, _as_fhir_error(error)) from error
    except _EntryFailed as failed:
        raise FhirError(
            failed.error.status, f"Bundle.entry[{failed.index}]: {failed.error.diagnostics}"
        ) from failed
    return fhir_response(
        _validated_bundle(
            {
                "resourceType": "Bundle",
                "type": "transaction-response",
                "entry": [_response_entry(answers[e.index]) for e in entries] or None,
            }
        )
    )


def _batch(request: HttpRequest, raw_entries: list, base: str) -> HttpResponse:
    """Each entry in its own transaction; a failure is that entry's answer, not the batch's.
    Entries of a batch may not refer to each other (FHIR), so they run in the order sent."""
    answered = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = _entry(index, raw, base)
            answered.append(_response_entry(_apply(request, entry, {})))
        except (FhirError, PermissionDenied, Http404) as error:
            failure = _as_fhir_error(error)
            answered.append(
                {
                    "response": {
                        "status": _status_line(failure.status),
                        "outcome": operation_outcome(failure.status, failure.diagnostics),
                    }
                }
            )
    return fhir_response(
        _validated_bundle(
            {"resourceType": "Bundle", "type": "batch-response", "entry": answered or None}
        )
    )


def _validated_bundle(bundle: dict) -> dict:
    if bundle.get("entry") is None:
        bundle.pop("entry", None)
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
