"""Device ingestion: `POST /api/v1/rpm/readings` with `Authorization: Bearer <device token>`.
The body is the simple JSON form, a FHIR Observation or a Bundle of them (up to 10,000
readings). Answers 200 with how many readings were new, how many were already stored and each
rejected item with its reason; 400 when the upload as a whole is unusable."""

from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.security import HttpBearer

from rpm import ingest, services
from telehealth import json_input

router = Router(tags=["monitoring"])


class DeviceToken(HttpBearer):
    def authenticate(self, request, token):
        device = services.device_for_token(token)
        if device is None:
            return None  # 401: missing, wrong or revoked
        request.device = device
        return device


class RejectedOut(Schema):
    index: int
    reason: str


class IngestOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectedOut]


@router.post("/readings", response=IngestOut, auth=DeviceToken())
def readings(request):
    try:
        # A device's odd value (1e400, Infinity) rejects that reading, not the whole upload.
        payload = json_input.request_json(request, bounded_numbers=False)
    except json_input.JSONInputError as error:
        raise HttpError(400, error.message) from error
    try:
        return services.ingest_payload(device=request.device, payload=payload)
    except ingest.Rejected as error:
        raise HttpError(400, str(error)) from error
