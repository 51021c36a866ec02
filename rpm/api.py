"""Device ingestion: `POST /api/v1/rpm/readings` with `Authorization: Bearer <device token>`.
The body is the simple JSON form, a FHIR Observation or a Bundle of them (up to 10,000
readings).

Simple callers get 200 with how many readings were new, how many were already stored, how
many were amended, how many were withdrawn and each item not stored with its reason; 400
when the upload as a whole is unusable. FHIR callers (Content-Type application/fhir+json, or
any transaction or batch Bundle) get FHIR: see rpm.fhir_answers."""

import json

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer

from rpm import fhir_answers, ingest, services, uploads
from rpm.fhir_answers import FHIR_JSON
from telehealth import json_input, ratelimit
from telehealth.net import client_address

router = Router(tags=["monitoring"])


TOKEN_FAILURE_WINDOW = 60  # seconds


class DeviceToken(HttpBearer):
    """The device a bearer token names. A wrong token is counted against the address that sent
    it; past RPM_TOKEN_FAILURES_PER_MINUTE in a minute, wrong tokens get 429 instead of 401,
    which tells a misconfigured device to back off. A right token is never refused: many
    devices share one address (a vendor's gateway, a carrier's NAT), and one revoked device
    retrying must not stop the others' readings. Guessing is no threat either way: tokens are
    random and long, and are looked up by their hash."""

    def authenticate(self, request, token):
        device = services.device_for_token(token)
        if device is None:
            key = f"rpm-token-failures:{client_address(request) or 'unknown'}"
            limit = settings.RPM_TOKEN_FAILURES_PER_MINUTE
            if ratelimit.over_limit(key, limit=limit, window=TOKEN_FAILURE_WINDOW):
                raise HttpError(429, _("Too many wrong device tokens; try again in a minute."))
            return None  # 401: missing, wrong or revoked
        request.device = device
        return device


class RejectedOut(Schema):
    index: int
    reason: str


class IngestOut(Schema):
    accepted: int
    duplicates: int
    amended: int
    retracted: int
    rejected: list[RejectedOut]


def _fhir(status: int, resource: dict) -> HttpResponse:
    return HttpResponse(json.dumps(resource), status=status, content_type=FHIR_JSON)


def _speaks_fhir(request, payload) -> bool:
    if request.content_type == FHIR_JSON:
        return True
    return (
        isinstance(payload, dict)
        and payload.get("resourceType") == "Bundle"
        and payload.get("type") in ("transaction", "batch")
    )


@router.post("/readings", response=IngestOut, auth=DeviceToken())
def readings(request):
    try:
        # A device's odd value (1e400, Infinity) rejects that reading, not the whole upload.
        payload = json_input.request_json(request, bounded_numbers=False)
    except json_input.JSONInputError as error:
        if request.content_type == FHIR_JSON:
            return _fhir(400, fhir_answers.refusal(error.message))
        raise HttpError(400, error.message) from error
    if not _speaks_fhir(request, payload):
        try:
            return uploads.ingest_payload(device=request.device, payload=payload)
        except ingest.Rejected as error:
            raise HttpError(400, str(error)) from error
    if not isinstance(payload, dict) or payload.get("resourceType") not in (
        "Bundle",
        "Observation",
    ):
        return _fhir(400, fhir_answers.refusal("Send a FHIR Observation or a Bundle of them."))
    try:
        stored = uploads.upload_store(
            device=request.device,
            payload=payload,
            all_or_nothing=payload.get("type") == "transaction",
        )
    except ingest.Rejected as error:
        return _fhir(400, fhir_answers.refusal(str(error), error.expression))
    return _fhir(*fhir_answers.answer(stored))
