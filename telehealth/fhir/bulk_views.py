"""`$export` over HTTP (https://hl.org/fhir/uv/bulkdata/export.html): the kick-offs, the
status URL (GET polls, DELETE cancels) and the file downloads. Thin: telehealth.fhir.bulk
does the work. Every answer goes through `fhir_view` (sign-in, practice, OperationOutcome
errors, no-store); only the requester ever sees a job's status or files."""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

from asgiref.sync import sync_to_async
from django.core.exceptions import PermissionDenied
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from telehealth.crypto.streams import read_decrypted
from telehealth.fhir import auth as fhir_auth
from telehealth.fhir import bulk
from telehealth.fhir.models import BulkExport
from telehealth.fhir.responses import FhirError, fhir_response, outcome_response
from telehealth.fhir.views import fhir_view

FHIR_JSON = "application/fhir+json"
RETRY_AFTER_SECONDS = "5"


def _requester(request: HttpRequest):
    """The user asking (a Bearer token stands for its user): a job is only ever shown to the
    user who started it."""
    if not bulk.may_export(request.user):  # type: ignore[arg-type]
        raise PermissionDenied("Only a practice administrator may export the practice's data.")
    return request.user


def _media_types(header: str) -> set[str]:
    return {part.split(";")[0].strip().lower() for part in header.split(",")}


def _check_headers(request: HttpRequest) -> None:
    if FHIR_JSON not in _media_types(request.headers.get("Accept", "")):
        raise FhirError(400, f"$export needs the header Accept: {FHIR_JSON}")
    prefer = {part.strip().lower() for part in request.headers.get("Prefer", "").split(",")}
    if "respond-async" not in prefer:
        raise FhirError(400, "$export is asynchronous: send the header Prefer: respond-async")


def _information(text: str) -> dict:
    outcome = OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": text}],
        }
    )
    return outcome.model_dump(mode="json", exclude_none=True)


def _within_scopes(request: HttpRequest, kickoff: bulk.Kickoff, *, named: bool) -> bulk.Kickoff:
    """A SMART client exports only the types its token may read: a `_type` it may not read is
    403; without `_type`, the export holds the types it may read (none: 403)."""
    readable = [t for t in kickoff.types if fhir_auth.permitted(request, t, "r")]
    refused = [t for t in kickoff.types if t not in readable]
    if refused and (named or not readable):
        fhir_auth.require_scope(request, refused[0], "r")  # raises the 403 with its challenge
    return replace(kickoff, types=readable)


def _kickoff(request: HttpRequest, level: str, target_id: str = "") -> HttpResponse:
    user = _requester(request)
    bulk.patient_ids(user=user, level=level, target_id=target_id)  # 404 for an unknown target
    _check_headers(request)
    items = [(name, value) for name, values in request.GET.lists() for value in values]
    kickoff = bulk.parse_kickoff(level=level, items=items)
    kickoff = _within_scopes(request, kickoff, named=any(name == "_type" for name, _ in items))
    export = bulk.export_start(
        by=user,
        level=level,
        target_id=target_id,
        kickoff=kickoff,
        request_url=request.build_absolute_uri(),
    )
    response = fhir_response(_information("The export has started."), status=202)
    response["Content-Location"] = request.build_absolute_uri(
        reverse("fhir:export-status", kwargs={"export_id": export.pk})
    )
    return response


@fhir_view()
def export_system(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, BulkExport.Level.SYSTEM)


@fhir_view()
def export_patients(request: HttpRequest) -> HttpResponse:
    return _kickoff(request, BulkExport.Level.PATIENTS)


@fhir_view()
def export_group(request: HttpRequest, group_id: str) -> HttpResponse:
    return _kickoff(request, BulkExport.Level.GROUP, group_id)


@fhir_view()
def export_patient(request: HttpRequest, resource_id: str) -> HttpResponse:
    return _kickoff(request, BulkExport.Level.PATIENT, resource_id)


@fhir_view(methods=("GET", "DELETE"))
def export_status(request: HttpRequest, export_id: uuid.UUID) -> HttpResponse:
    export = bulk.access_export(user=_requester(request), export_id=export_id)
    if request.method == "DELETE":
        bulk.export_delete(export=export)
        cancelled = _information("The export was cancelled and its files deleted.")
        return fhir_response(cancelled, status=202)
    if export.status == BulkExport.Status.FAILED:
        # The job's failure, not the poll's: a client must not retry this URL.
        return outcome_response(422, export.error)
    if export.status != BulkExport.Status.COMPLETED:
        response = fhir_response(_information("The export is in progress."), status=202)
        response["X-Progress"] = export.progress or export.status
        response["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    def file_url(export_file) -> str:
        return request.build_absolute_uri(
            reverse("fhir:export-file", kwargs={"file_id": export_file.pk})
        )

    # The manifest is not a FHIR resource: plain JSON, as the specification says.
    response = HttpResponse(
        json.dumps(bulk.manifest(export, file_url=file_url)), content_type="application/json"
    )
    response["Expires"] = export.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


@fhir_view()
def export_file(request: HttpRequest, file_id: uuid.UUID) -> StreamingHttpResponse:
    user = _requester(request)
    export_file = bulk.access_export_file(user=user, file_id=file_id)
    path = bulk.file_path(export_file)
    bulk.file_downloaded(export_file=export_file, by=user, request=request)
    # Under ASGI a synchronous iterator would be read whole into memory before the first
    # byte is sent; an asynchronous one streams a decrypted chunk at a time.
    content: Iterator[bytes] | AsyncIterator[bytes]
    content = _stream(path) if isinstance(request, ASGIRequest) else read_decrypted(path)
    return StreamingHttpResponse(content, content_type=bulk.NDJSON)


async def _stream(path) -> AsyncIterator[bytes]:
    chunks = read_decrypted(path)
    next_chunk = sync_to_async(_next_chunk, thread_sensitive=False)
    while (chunk := await next_chunk(chunks)) is not None:
        yield chunk


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)
