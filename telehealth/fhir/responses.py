"""FHIR responses: `application/fhir+json` bodies and OperationOutcome errors."""

import json

from django.http import HttpResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

CONTENT_TYPE = "application/fhir+json; charset=utf-8"

# The OperationOutcome issue code that goes with each status we answer with.
ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    500: "exception",
}


def fhir_response(resource: dict, *, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(resource, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=CONTENT_TYPE,
    )


def operation_outcome(status: int, diagnostics: str, *, severity: str = "error") -> dict:
    outcome = OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": severity,
                    "code": ISSUE_CODES.get(status, "processing"),
                    "diagnostics": diagnostics,
                }
            ],
        }
    )
    return outcome.model_dump(mode="json", exclude_none=True)


def outcome_response(status: int, diagnostics: str) -> HttpResponse:
    response = fhir_response(operation_outcome(status, diagnostics), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="fhir"'
    return response


class FhirError(Exception):
    """Raised anywhere under a FHIR view: answered as an OperationOutcome with this status."""

    def __init__(self, status: int, diagnostics: str):
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
