"""Import of Patients and Appointments from another EHR: a FHIR Bundle (of any type: its
entries' resources are taken) or NDJSON (one resource a line).

Each resource is validated with fhir.resources and written through the registered mappers'
create and update, so every rule of the API holds here too (a patient's demographics as our
forms take them, licensure and double-booking for appointments, the care team, the audit
trail). The core imports no app.

Matching. A Patient is matched by identifier: our own record number (the Patient mapper's
`identifier` search finds it, scoped to the importing user's practice) or an identifier of
the source EHR recorded by an earlier import (`ImportedIdentifier`). An Appointment is matched
by its identifiers, else by the source's resource id. Appointments name their patient as the
source's `Patient/<id>` (a Patient of the same file or of an earlier import) or by identifier,
and their practitioner by NPI (`actor.identifier`) or by our `Practitioner/<id>`.

Dry run and apply run the same code in one database transaction, each resource in its own
savepoint: a resource our rules refuse is reported and left out, the others go ahead. The dry
run then rolls the whole transaction back (effects queued on commit, such as reminders, are
dropped with it), so its report says what apply would do, taken slots included; apply commits
all the resources it accepted at once, so a failure half-way leaves nothing behind.

Past appointments are refused: our appointments are visits still to be held (the booking
service refuses a start in the past), and the history stays in the source EHR. Upcoming ones
are booked like any other booking, confirmation and reminders included: the patient's join
link and calendar invitation are ours, and they need them.

Errors name the element's FHIR path and the kind of fault, never the value sent."""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import ValidationError

from telehealth.fhir.registry import Computed, Mapper, mapper_for
from telehealth.fhir.responses import FhirError
from telehealth.fhir.search import Token
from telehealth.fhir.writes import invalid
from telehealth.fhir_import.models import ImportedIdentifier, identifier_key

MAX_BYTES = 2 * 1024 * 1024
IMPORTED_TYPES = ("Patient", "Appointment")
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# The system under which a source resource's own id is remembered (to resolve the references
# of a later file, and to match an Appointment that carries no identifier).
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
SOURCE_ID_SYSTEM = "urn:telehealth:import:resource-id"
# Elements left out when our resource before and after an update are compared.
ELEMENTS_NOT_COMPARED = ("id", "meta")

CREATE, UPDATE, UNCHANGED, REFUSED = "create", "update", "unchanged", "refused"
OUTCOMES = (CREATE, UPDATE, UNCHANGED, REFUSED)


class ImportFileError(Exception):
    """The file as a whole cannot be read (too large, not JSON nor NDJSON)."""


@dataclass
class Row:
    """One resource of the file and what the import does (or would do) with it."""

    where: str  # "line 3", "Bundle.entry[2]"
    resource_type: str
    source: str  # the source's "Type/id", or ""
    outcome: str = REFUSED
    target: str = ""  # ours, "Patient/12"
    changes: list[str] = field(default_factory=list)  # elements an update changes
    reason: str = ""


@dataclass
class Report:
    applied: bool
    rows: list[Row]

    def counts(self) -> dict[str, int]:
        return {outcome: sum(r.outcome == outcome for r in self.rows) for outcome in OUTCOMES}


@dataclass
class _Item:
    where: str
    resource: Any  # as parsed; checked in _check


# --- Reading the file -----------------------------------------------------------------------


def read_items(data: bytes) -> list[_Item]:
    """The resources of a Bundle, of a single resource's JSON, or of NDJSON lines."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(
            _("The file is larger than %(size)s MB.") % {"size": MAX_BYTES // (1024 * 1024)}
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(_("The file is not UTF-8 text.")) from None
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict):
        if whole.get("resourceType") != "Bundle":
            return [_Item("line 1", whole)]
        entries = whole.get("entry") or []
        if not isinstance(entries, list):
            raise ImportFileError(_("Bundle.entry: expected a list of entries."))
        return [
            _Item(
                f"Bundle.entry[{index}]",
                entry.get("resource") if isinstance(entry, dict) else None,
            )
            for index, entry in enumerate(entries)
        ]
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(_Item(f"line {number}", json.loads(line)))
        except ValueError:
            items.append(_Item(f"line {number}", _NOT_JSON))
    if not items:
        raise ImportFileError(_("The file holds no resources."))
    return items


_NOT_JSON = object()


def _check(item: _Item) -> tuple[Mapper, dict]:
    """The item's mapper and resource, once fhir.resources accepts it; FhirError otherwise."""
    if item.resource is _NOT_JSON:
        raise FhirError(400, "not a JSON object (NDJSON takes one resource a line).")
    if not isinstance(item.resource, dict):
        raise FhirError(400, "resource: expected a FHIR resource (a JSON object).")
    resource_type = item.resource.get("resourceType")
    if resource_type not in IMPORTED_TYPES:
        raise FhirError(422, "resourceType: only Patient and Appointment resources are imported.")
    mapper = mapper_for(resource_type)
    if mapper is None or mapper.create is None:
        raise FhirError(422, f"{resource_type} cannot be written on this server.")
    try:
        mapper.model.model_validate(item.resource)
    except ValidationError as error:
        raise invalid(error, resource_type) from error
    return mapper, item.resource


# --- Matching -------------------------------------------------------------------------------


def _source_keys(resource: dict) -> list[tuple[str, str]]:
    """(system, value) of the resource's identifiers that name both."""
    return [
        (i["system"], i["value"])
        for i in resource.get("identifier") or []
        if i.get("system") and i.get("value")
    ]


def _recorded(practice_id: int, resource_type: str, keys: list[tuple[str, str]]) -> set[int]:
    if not keys:
        return set()
    return set(
        ImportedIdentifier.objects.filter(
            practice_id=practice_id,
            resource_type=resource_type,
            key__in=[identifier_key(system, value) for system, value in keys],
        ).values_list("row_id", flat=True)
    )


def _record(practice_id: int, resource_type: str, keys: list[tuple[str, str]], row_id: int) -> None:
    for system, value in keys:
        ImportedIdentifier.objects.get_or_create(
            practice_id=practice_id,
            resource_type=resource_type,
            key=identifier_key(system, value),
            defaults={"system": system[:255], "row_id": row_id},
        )


def _ours(user, mapper: Mapper, keys: list[tuple[str, str]]) -> set[int]:
    """Rows the identifiers name in our own systems, among those the user may see (the
    mapper's identifier search; another practice's number finds nothing)."""
    found: set[int] = set()
    if "identifier" not in mapper.params:
        return found
    for system, value in keys:
        rows = mapper.search(user, {"identifier": [[Token(system, value)]]})
        if not isinstance(rows, Computed):
            found.update(rows.values_list("pk", flat=True)[:2])
    return found


class _Session:
    """One run over a file: the user, their practice, and the source ids resolved so far."""

    def __init__(self, user):
        self.user = user
        self.practice_id: int = user.practice_id
        self.patients: dict[str, int | None] = {}  # source Patient id → ours (None: refused)

    def patient_for(self, actor: dict) -> int:
        """Our patient an appointment's actor names."""
        identifier = actor.get("identifier") or {}
        if identifier.get("system") and identifier.get("value"):
            key = [(identifier["system"], identifier["value"])]
            found = _ours(self.user, _mapper("Patient"), key) | _recorded(
                self.practice_id, "Patient", key
            )
            if len(found) == 1:
                return found.pop()
            raise FhirError(422, "Appointment.participant.actor: no imported patient has it.")
        reference = actor.get("reference") or ""
        if not reference.startswith("Patient/"):
            raise FhirError(422, "Appointment.participant.actor: give the patient's reference.")
        source_id = reference.removeprefix("Patient/")
        if source_id in self.patients:
            pk = self.patients[source_id]
            if pk is None:
                raise FhirError(422, f"{reference} of this file was refused, so this is too.")
            return pk
        found = _recorded(self.practice_id, "Patient", [(SOURCE_ID_SYSTEM, source_id)])
        if len(found) != 1:
            raise FhirError(
                422, f"{reference} is neither in this file nor imported before; import it first."
            )
        return found.pop()

    def practitioner_for(self, actor: dict) -> int:
        identifier = actor.get("identifier") or {}
        mapper = _mapper("Practitioner")
        if identifier.get("system") == NPI_SYSTEM and identifier.get("value"):
            found = _ours(self.user, mapper, [(NPI_SYSTEM, identifier["value"])])
            if len(found) != 1:
                raise FhirError(
                    422, "Appointment.participant.actor: no provider of ours has this NPI."
                )
            return found.pop()
        reference = actor.get("reference") or ""
        try:
            return mapper.lookup(self.user, reference.removeprefix("Practitioner/")).pk
        except Http404:
            raise FhirError(
                422,
                f"{reference}: name the practitioner by NPI ({NPI_SYSTEM}) or by our "
                "Practitioner id.",
            ) from None


def _mapper(resource_type: str) -> Mapper:
    mapper = mapper_for(resource_type)
    if mapper is None:
        raise FhirError(422, f"{resource_type} is not served here.")
    return mapper


# --- One resource ---------------------------------------------------------------------------


class _Unchanged(Exception):
    """Raised inside a savepoint to undo an update that changed nothing."""


def _comparable(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ELEMENTS_NOT_COMPARED}


def _changed_elements(before: dict, after: dict) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _patient(session: _Session, mapper: Mapper, resource: dict, row: Row) -> None:
    keys = _source_keys(resource)
    id_key = [(SOURCE_ID_SYSTEM, resource["id"])] if resource.get("id") else []
    if not keys and not id_key:
        raise FhirError(
            422,
            "Patient.identifier: give the source's identifier (or the resource's id), so that "
            "importing it again matches instead of duplicating.",
        )
    # By the source's id only when it sends no identifier: ids are the source's own, and
    # two sources may both have a Patient/1.
    found = _ours(session.user, mapper, keys) | _recorded(
        session.practice_id, "Patient", keys or id_key
    )
    if len(found) > 1:
        raise FhirError(422, "Patient.identifier: its identifiers match more than one patient.")
    # The source's organisation is not a practice of ours; our create and update refuse any
    # other than the importing practice, so it is left out rather than refused.
    sent = {k: v for k, v in resource.items() if k not in ("id", "managingOrganization")}
    if found:
        pk = found.pop()
        current = mapper.lookup(session.user, str(pk))
        before = _comparable(mapper.to_fhir(current))
        try:
            with transaction.atomic():
                locked = type(current)._default_manager.select_for_update().get(pk=pk)
                assert mapper.update is not None
                after = _comparable(mapper.to_fhir(mapper.update(session.user, locked, sent)))
                row.changes = _changed_elements(before, after)
                if not row.changes:
                    raise _Unchanged
            row.outcome = UPDATE
        except _Unchanged:
            row.outcome = UNCHANGED
    else:
        assert mapper.create is not None
        pk = mapper.create(session.user, sent).pk
        row.outcome = CREATE
    row.target = f"Patient/{pk}"
    if resource.get("id"):
        session.patients[resource["id"]] = pk
    _record(session.practice_id, "Patient", keys + id_key, pk)


def _start(resource: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(resource["start"]) if resource.get("start") else None
    except ValueError:
        return None


def _appointment(session: _Session, mapper: Mapper, resource: dict, row: Row) -> None:
    keys = _source_keys(resource) or (
        [(SOURCE_ID_SYSTEM, resource["id"])] if resource.get("id") else []
    )
    found = _recorded(session.practice_id, "Appointment", keys)
    if len(found) > 1:
        raise FhirError(422, "Appointment.identifier: matches more than one appointment.")
    if found:
        _appointment_again(session, mapper, resource, row, found.pop())
        return
    status = resource.get("status")
    if status != "booked":
        raise FhirError(
            422, f"Appointment.status: only booked appointments are imported, not {status}."
        )
    start = _start(resource)
    if start is not None and start.tzinfo is not None and start <= timezone.now():
        raise FhirError(
            422,
            "Appointment.start: in the past. Only upcoming appointments are imported; "
            "the history stays in the source EHR.",
        )
    patient_id: int | None = None
    provider_id: int | None = None
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") or {}
        kind = (actor.get("reference") or "").split("/", 1)[0] or actor.get("type")
        if kind == "Patient":
            patient_id = session.patient_for(actor)
        elif kind == "Practitioner" or (actor.get("identifier") or {}).get("system") == NPI_SYSTEM:
            provider_id = session.practitioner_for(actor)
    if patient_id is None:
        raise FhirError(422, "Appointment.participant: name the patient.")
    ours: dict = {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}],
    }
    if provider_id is not None:
        ours["participant"].append(
            {"actor": {"reference": f"Practitioner/{provider_id}"}, "status": "accepted"}
        )
    for element in ("start", "end", "appointmentType", "reasonCode"):
        if element in resource:
            ours[element] = resource[element]
    assert mapper.create is not None
    pk = mapper.create(session.user, ours).pk
    row.outcome, row.target = CREATE, f"Appointment/{pk}"
    _record(session.practice_id, "Appointment", keys, pk)


def _appointment_again(
    session: _Session, mapper: Mapper, resource: dict, row: Row, pk: int
) -> None:
    """An appointment imported before: unchanged, or cancelled in the source since."""
    current = mapper.lookup(session.user, str(pk))
    ours = mapper.to_fhir(current)
    row.target = f"Appointment/{pk}"
    if resource.get("status") == "cancelled" and ours.get("status") != "cancelled":
        assert mapper.update is not None
        with transaction.atomic():
            locked = type(current)._default_manager.select_for_update().get(pk=pk)
            cancelled = {**ours, "status": "cancelled"}
            if resource.get("cancelationReason"):
                cancelled["cancelationReason"] = resource["cancelationReason"]
            mapper.update(session.user, locked, cancelled)
        row.outcome, row.changes = UPDATE, ["status"]
        return
    cancelled_both = resource.get("status") == ours.get("status") == "cancelled"
    booked_here = resource.get("status") != "cancelled"
    if (cancelled_both or booked_here) and _start(resource) in (None, _start(ours)):
        row.outcome = UNCHANGED
        return
    raise FhirError(
        422,
        "Appointment: differs from the one imported before (its start or status); only a "
        "cancellation is carried over, so make other changes here by hand.",
    )


# --- The run --------------------------------------------------------------------------------


def import_run(*, user, data: bytes, apply: bool) -> Report:
    """Read the file and import it as `user` (a practice admin: the mappers' own checks decide
    what they may write). `apply=False` is the dry run: everything is written, then rolled
    back. Patients go first so that appointments find them."""
    rows: list[Row] = []
    accepted: list[tuple[Row, Mapper, dict]] = []
    for item in read_items(data):
        row = Row(where=item.where, resource_type="", source=_source_label(item.resource))
        rows.append(row)
        try:
            mapper, valid = _check(item)
        except FhirError as error:
            row.reason = error.diagnostics
            continue
        row.resource_type = mapper.resource_type
        accepted.append((row, mapper, valid))
    session = _Session(user)
    accepted.sort(key=lambda a: IMPORTED_TYPES.index(a[1].resource_type))
    with transaction.atomic():
        for row, mapper, resource in accepted:
            try:
                with transaction.atomic():
                    if row.resource_type == "Patient":
                        _patient(session, mapper, resource, row)
                    else:
                        _appointment(session, mapper, resource, row)
            except (FhirError, PermissionDenied, Http404) as error:
                row.outcome, row.target, row.changes = REFUSED, "", []
                row.reason = _reason(error)
                if row.resource_type == "Patient" and resource.get("id"):
                    session.patients[resource["id"]] = None
        if not apply:
            transaction.set_rollback(True)
    if not apply:
        # The ids the rolled-back rows got are nobody's; apply will give others.
        for row in rows:
            if row.outcome == CREATE:
                row.target = ""
    return Report(applied=apply, rows=rows)


def _source_label(resource: Any) -> str:
    """The source's "Type/id" when both look like FHIR's (anything else is not repeated)."""
    if not isinstance(resource, dict):
        return ""
    resource_type, resource_id = resource.get("resourceType"), resource.get("id")
    if (
        isinstance(resource_type, str)
        and resource_type.isascii()
        and resource_type.isalpha()
        and isinstance(resource_id, str)
        and FHIR_ID.fullmatch(resource_id)
    ):
        return f"{resource_type}/{resource_id}"
    return ""


def _reason(error: Exception) -> str:
    if isinstance(error, FhirError):
        return error.diagnostics
    if isinstance(error, PermissionDenied):
        return str(error) or "You may not write this resource."
    return "No such resource, or not yours to see."
