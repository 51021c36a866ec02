"""FHIR Bulk Data `$export` (https://hl.org/fhir/uv/bulkdata/export.html): kick-off, the job
that writes one NDJSON file per resource type, the status manifest, cancel and expiry.

Who: staff allowed to read all of their practice's data (`may_export`). What: every registered
type in the patient compartment (a mapper with a `patient_path`), and for a system export the
practice's Practitioners and Organization too, each read through the mapper's own `search`
for the requester, so an export never shows more than the same user's searches would.

Groups are the care-team panels of the practice's providers: `Group/<Practitioner id>` is
the patients with that provider's clinician on their care team. The panel already exists
(CareTeamMember is how a clinician is given a patient), it is what an EHR usually pulls
("my attributed patients"), and the whole practice is `Patient/$export`; so no Group model.

Audit: exporting 10,000 patients must not cost 10,000 transactions. When the job completes
it writes, in its one transaction, one event on the export (the level, the number of
resources and of patients) listing the export and every patient whose data went into the
files as its subjects (`audit.record_many`). A patient's audit trail then shows the export
like any other read of their record, and the whole costs a few statements. Each file
download is one more event on the export."""

import json
import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from telehealth.accounts import selectors as account_selectors
from telehealth.accounts.models import CareTeamMember, Patient, Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.crypto.streams import EncryptedChunkWriter
from telehealth.fhir.registry import Computed, Mapper, mapper_for, registered, row_id
from telehealth.fhir.responses import FhirError
from telehealth.fhir.search import SearchError, parse_date

from .models import BulkExport, BulkExportFile

logger = logging.getLogger(__name__)

NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
KICKOFF_PARAMS = frozenset({"_outputFormat", "_since", "_type"})
# Outside the patient compartment, exported with the practice's data (system level only).
PRACTICE_TYPES = ("Practitioner", "Organization")
# Rows fetched per round trip; also how often the job reports progress and checks that it
# was not cancelled. Memory is bounded by this many rows plus one encrypted chunk.
ROWS_PER_FETCH = 2000


def may_export(user: User) -> bool:
    """A practice admin: the one role that may read all of the practice's data (clinicians
    see their care team, the front desk no vitals)."""
    return user.is_authenticated and user.role == Role.PRACTICE_ADMIN and bool(user.practice_id)


# A job not finished this long after it was requested has died with its worker (a crash, a
# killed process, a deploy): nothing else would ever end it, and its client would be told
# "in progress" until expiry. A whole practice exports in minutes.
STUCK_AFTER = timedelta(hours=6)
STUCK_ERROR = "The export stopped before it finished; start a new one."


def ttl() -> timedelta:
    return timedelta(hours=settings.FHIR_BULK_EXPORT_TTL_HOURS)


def exports_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "fhir-bulk"


def _folder(export_id: uuid.UUID | str) -> Path:
    return exports_root() / str(export_id)


def _remove_files(export_id: uuid.UUID | str) -> None:
    shutil.rmtree(_folder(export_id), ignore_errors=True)


# Kick-off


def _in_compartment(mapper: Mapper) -> bool:
    return bool(mapper.patient_path)


def exportable_types(level: str) -> list[str]:
    """The types an export of this level writes, in a stable order: Patient first, then the
    rest of the compartment, then (system level) the practice's own types."""
    compartment = [m.resource_type for m in registered() if _in_compartment(m)]
    types = sorted(compartment, key=lambda name: (name != "Patient", name))
    if level == BulkExport.Level.SYSTEM:
        types += [name for name in PRACTICE_TYPES if mapper_for(name) is not None]
    return types


@dataclass(frozen=True)
class Kickoff:
    types: list[str]
    since: datetime | None


def parse_kickoff(*, level: str, items: list[tuple[str, str]]) -> Kickoff:
    """The kick-off's query parameters; anything unsupported is a 400 naming it."""
    unknown = sorted({name for name, _value in items} - KICKOFF_PARAMS)
    if unknown:
        raise FhirError(400, f"Unsupported $export parameter: {', '.join(unknown)}")
    allowed = exportable_types(level)
    types: list[str] = []
    since = None
    for name, value in items:
        if name == "_outputFormat":
            if value not in OUTPUT_FORMATS:
                raise FhirError(400, f"_outputFormat {value!r} is not supported (use {NDJSON})")
        elif name == "_since":
            if since is not None:
                raise FhirError(400, "_since may be given once")
            since = _instant(value)
        else:
            for resource_type in (part.strip() for part in value.split(",")):
                if resource_type not in allowed:
                    raise FhirError(
                        400, f"_type {resource_type!r} cannot be exported here: use {allowed}"
                    )
                if resource_type not in types:
                    types.append(resource_type)
    return Kickoff(types=[t for t in allowed if t in types] if types else allowed, since=since)


def _instant(raw: str) -> datetime:
    if not raw[:1].isdigit():
        raise FhirError(400, f"_since must be a FHIR instant, not {raw!r}")
    try:
        parsed = parse_date(raw, name="_since")
    except SearchError as error:
        raise FhirError(400, str(error)) from None
    if parsed.precision != "instant":
        raise FhirError(400, f"_since must be an instant with a time and zone, not {raw!r}")
    return parsed.start


def group_patients(*, user: User, group_id: str) -> QuerySet:
    """The ids of the patients of a group (a provider's care-team panel) the user may see;
    404 for a provider who is not of the user's practice."""
    provider_id = row_id(group_id)
    if provider_id is None:
        raise Http404
    provider = get_object_or_404(account_selectors.providers_visible_to(user), pk=provider_id)
    panel = CareTeamMember.objects.filter(clinician_id=provider.user_id).values("patient_id")
    return account_selectors.patients_visible_to(user).filter(pk__in=panel).values("pk")


def patient_ids(*, user: User, level: str, target_id: str) -> QuerySet | None:
    """The patients an export is limited to (ids), or None for all the user may see."""
    if level == BulkExport.Level.GROUP:
        return group_patients(user=user, group_id=target_id)
    if level == BulkExport.Level.PATIENT:
        patient_mapper = mapper_for("Patient")
        if patient_mapper is None:
            raise Http404
        patient = patient_mapper.lookup(user, target_id)  # 404 (or 403) through the selector
        return Patient.objects.filter(pk=patient.pk).values("pk")
    return None


def export_start(
    *,
    by: User,
    level: str,
    target_id: str,
    kickoff: Kickoff,
    request_url: str,
) -> BulkExport:
    """Record the job and queue it after commit. The caller has checked `may_export` and
    that the target exists for the user (`patient_ids`)."""
    from telehealth.fhir import tasks

    assert by.practice_id is not None  # may_export
    with transaction.atomic():
        export = BulkExport.objects.create(
            practice_id=by.practice_id,
            requested_by=by,
            level=level,
            target_id=target_id,
            types=kickoff.types,
            since=kickoff.since,
            request_url=request_url[:2000],
            expires_at=timezone.now() + ttl(),
        )
        transaction.on_commit(lambda: tasks.run_bulk_export.delay(str(export.pk)))
    return export


# Status, files, cancel


def access_export(*, user: User, export_id: uuid.UUID) -> BulkExport:
    """The requester's own, unexpired export; 404 to anyone else."""
    exports = BulkExport.objects.filter(requested_by=user, expires_at__gt=timezone.now())
    return get_object_or_404(exports, pk=export_id)


def access_export_file(*, user: User, file_id: uuid.UUID) -> BulkExportFile:
    """A file of the requester's own completed, unexpired export; 404 to anyone else."""
    files = BulkExportFile.objects.select_related("export").filter(
        export__requested_by=user,
        export__status=BulkExport.Status.COMPLETED,
        export__expires_at__gt=timezone.now(),
    )
    return get_object_or_404(files, pk=file_id)


def file_path(export_file: BulkExportFile) -> Path:
    return exports_root() / export_file.path


def manifest(export: BulkExport, *, file_url: Callable[[BulkExportFile], str]) -> dict:
    """The completion manifest (https://hl.org/fhir/uv/bulkdata/export.html#response---complete-status)."""
    assert export.transaction_time is not None
    return {
        "transactionTime": export.transaction_time.isoformat(),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": f.resource_type, "url": file_url(f), "count": f.count}
            for f in export.files.order_by("resource_type")
        ],
        "error": [],
    }


def export_delete(*, export: BulkExport) -> None:
    """Cancel or discard an export: the row goes now, its files after commit. A job still
    running notices the row is gone at its next progress check and removes what it wrote."""
    export_id = export.pk
    with transaction.atomic():
        export.delete()
        transaction.on_commit(lambda: _remove_files(export_id))


def file_downloaded(*, export_file: BulkExportFile, by: User, request) -> None:
    audit.record(
        action=Action.EXPORT,
        actor=by,
        obj=export_file.export,
        request=request,
        detail=f"FHIR $export file downloaded: {export_file.resource_type}",
    )


def stuck_exports_fail(*, now: datetime | None = None) -> int:
    """Mark failed every queued or running job requested longer than STUCK_AFTER ago, and
    remove what it wrote (run by beat). A job that was in fact still running finds itself no
    longer running at its next progress check and stops (export_run's _Cancelled)."""
    now = now or timezone.now()
    unfinished = (BulkExport.Status.QUEUED, BulkExport.Status.RUNNING)
    stuck = list(
        BulkExport.objects.filter(
            status__in=unfinished, created_at__lt=now - STUCK_AFTER
        ).values_list("pk", flat=True)
    )
    for export_id in stuck:
        failed = BulkExport.objects.filter(pk=export_id, status__in=unfinished).update(
            status=BulkExport.Status.FAILED, error=STUCK_ERROR, progress="", finished_at=now
        )
        if failed:
            _remove_files(export_id)
    return len(stuck)


def expired_exports_delete(*, now: datetime | None = None) -> int:
    """Delete the rows and files of every export past its expiry (run by beat)."""
    now = now or timezone.now()
    expired = list(BulkExport.objects.filter(expires_at__lte=now).values_list("pk", flat=True))
    for export_id in expired:
        BulkExport.objects.filter(pk=export_id).delete()
        _remove_files(export_id)
    return len(expired)


# The job


class _Cancelled(Exception):
    """The export's row was deleted (cancelled or expired) while the job ran."""


@dataclass
class _Written:
    file_id: uuid.UUID
    resource_type: str
    count: int


def export_run(*, export_id: str) -> None:
    """Write the export's files and complete it. Runs in a Celery worker, outside any
    transaction: rows are streamed in pk order (server-side cursors on PostgreSQL), each
    resource built by its mapper, one encrypted file per type; the files are recorded, the job
    marked complete and the export audited in one transaction at the end."""
    claimed = BulkExport.objects.filter(pk=export_id, status=BulkExport.Status.QUEUED).update(
        status=BulkExport.Status.RUNNING, progress="started"
    )
    if not claimed:
        return  # cancelled before it ran, or a second delivery of the task
    export = BulkExport.objects.select_related("requested_by").get(pk=export_id)
    try:
        written, patients = _write_files(export)
        _complete(export, written, patients)
    except _Cancelled:
        _remove_files(export.pk)
    except Exception as error:
        # Only the error's type: its text can hold the values of a row (PHI).
        logger.error("FHIR $export %s failed: %s", export.pk, type(error).__name__)
        _remove_files(export.pk)
        BulkExport.objects.filter(pk=export.pk, status=BulkExport.Status.RUNNING).update(
            status=BulkExport.Status.FAILED,
            error=f"The export failed ({type(error).__name__}); start a new one.",
            progress="",
            finished_at=timezone.now(),
        )


def _write_files(export: BulkExport) -> tuple[list[_Written], set[int]]:
    user = export.requested_by
    if not user.is_active or not may_export(user) or user.practice_id != export.practice_id:
        raise PermissionError("the requester may no longer export this practice's data")
    # Resources changed from here on may be missing; the manifest says so by this time.
    transaction_time = timezone.now()
    BulkExport.objects.filter(pk=export.pk).update(transaction_time=transaction_time)
    export.transaction_time = transaction_time
    limit = patient_ids(user=user, level=export.level, target_id=export.target_id)
    folder = _folder(export.pk)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[_Written] = []
    patients: set[int] = set()
    for position, resource_type in enumerate(export.types, 1):
        mapper = mapper_for(resource_type)
        if mapper is None:
            continue  # unregistered since the kick-off
        label = f"{resource_type} ({position} of {len(export.types)})"
        rows = _rows(mapper, user=user, export=export, limit=limit)
        result = _write_type(export, mapper, rows, folder=folder, label=label, patients=patients)
        if result is not None:
            written.append(result)
    return written, patients


def _rows(mapper: Mapper, *, user: User, export: BulkExport, limit: QuerySet | None) -> QuerySet:
    rows = mapper.search(user, {})
    if isinstance(rows, Computed):  # computed types (Slot) hold no patient data to export
        raise TypeError(f"{mapper.resource_type} is computed and cannot be exported")
    if limit is not None and mapper.patient_path:
        rows = rows.filter(**{f"{mapper.patient_path}__in": limit})
    if export.since is not None and mapper.last_updated:
        # Types without a last-updated field are written whole: they may have changed.
        rows = rows.filter(Q(**{f"{mapper.last_updated}__gt": export.since}))
    return rows.order_by("pk")


def _patient_id(row, patient_path: str) -> int | None:
    """The row's patient id along the mapper's path, read from the row and the relations the
    mapper's search already joined (`a__patient` reads row.a.patient_id, not row.a.patient)."""
    if patient_path == "pk":
        return row.pk
    *hops, last = patient_path.split("__")
    for hop in hops:
        row = getattr(row, hop)
        if row is None:
            return None
    return getattr(row, f"{last}_id" if not last.endswith("_id") else last)


def _write_type(
    export: BulkExport,
    mapper: Mapper,
    rows: QuerySet,
    *,
    folder: Path,
    label: str,
    patients: set[int],
) -> _Written | None:
    file_id = uuid.uuid4()
    writer: EncryptedChunkWriter | None = None
    count = 0
    try:
        for row in rows.iterator(chunk_size=ROWS_PER_FETCH):
            if writer is None:
                writer = EncryptedChunkWriter(folder / f"{file_id}.ndjson")
            resource = mapper.to_fhir(row)
            line = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
            writer.write(line.encode() + b"\n")
            if mapper.patient_path:
                patient_id = _patient_id(row, mapper.patient_path)
                if patient_id is not None:
                    patients.add(patient_id)
            count += 1
            if count % ROWS_PER_FETCH == 0:
                _report(export, f"{label}: {count} written")
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    if writer is None:
        return None  # nothing of this type: no file, no output entry
    writer.close()
    _report(export, f"{label}: {count} written")
    return _Written(file_id=file_id, resource_type=mapper.resource_type, count=count)


def _report(export: BulkExport, progress: str) -> None:
    still_running = BulkExport.objects.filter(
        pk=export.pk, status=BulkExport.Status.RUNNING
    ).update(progress=progress[:200])
    if not still_running:
        raise _Cancelled


def _complete(export: BulkExport, written: list[_Written], patients: set[int]) -> None:
    user = export.requested_by
    with transaction.atomic():
        locked = (
            BulkExport.objects.select_for_update()
            .filter(pk=export.pk, status=BulkExport.Status.RUNNING)
            .first()
        )
        if locked is None:
            raise _Cancelled
        BulkExportFile.objects.bulk_create(
            BulkExportFile(
                id=w.file_id,
                export=locked,
                resource_type=w.resource_type,
                count=w.count,
                path=f"{locked.pk}/{w.file_id}.ndjson",
            )
            for w in written
        )
        now = timezone.now()
        locked.status = BulkExport.Status.COMPLETED
        locked.progress = ""
        locked.finished_at = now
        locked.expires_at = now + ttl()
        locked.save(update_fields=["status", "progress", "finished_at", "expires_at"])
        total = sum(w.count for w in written)
        audit.record_many(
            action=Action.EXPORT,
            actor=user,
            objects=[(locked, None), *((locked, Patient(pk=pk)) for pk in sorted(patients))],
            detail=(
                f"FHIR $export ({locked.level}) completed: {total} resources "
                f"of {len(patients)} patients"
            ),
        )
