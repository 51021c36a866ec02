"""What every JSON API operation shares at its edge: one JSON parser (depth, NUL and range
limits from `telehealth.json_input`), JSON answers for bodies that are too large or malformed,
and the error responses each operation documents in the OpenAPI schema."""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import HttpError
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser

from telehealth import json_input, middleware

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "A message for the caller; for 422, the list of field errors.",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
        }
    },
    "required": ["detail"],
}
ERROR_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, nesting too deep, NUL characters or a refused value.",
    401: "Not signed in, or the credential is missing or wrong.",
    403: "Signed in, but not allowed to do this.",
    404: "No such object, or not one the caller may see.",
    413: "The request body is too large.",
    422: "A parameter or body field failed validation.",
    429: "Too many requests; try again later.",
}
UNSAFE_METHODS = {"post", "put", "patch", "delete"}


INTEGER = re.compile(r"[+-]?\d+")


class JSONInputParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        return json_input.request_json(request)

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        """As ninja's, but a number no column can hold is refused here, as in JSON bodies.
        (NUL characters never get this far: NulRefusalMiddleware answers first.)"""
        for _key, values in data.lists():
            for value in values:
                if INTEGER.fullmatch(value) and not (
                    len(value) <= 20 and json_input.INT_MIN <= int(value) <= json_input.INT_MAX
                ):
                    raise HttpError(400, _("A number in the query is out of range."))
        return super().parse_querydict(data, list_fields, request)


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The errors an operation can answer with, from what it takes: every operation can be
    sent a malformed request; credentials bring 401/403; an id or slug can name nothing; a body
    can be too large; parameters and bodies are validated; writes are rate-limited."""
    statuses = [400]
    takes_parameters = bool(operation.get("parameters")) or "requestBody" in operation
    if operation.get("security"):
        statuses += [401, 403]
    if takes_parameters or "{" in path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses.append(413)
    if takes_parameters:
        statuses.append(422)
    if method in UNSAFE_METHODS:
        statuses.append(429)
    return statuses


class TelehealthAPI(NinjaAPI):
    """NinjaAPI with our parser, JSON answers for refused bodies and documented errors."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("parser", JSONInputParser())
        super().__init__(**kwargs)
        self.add_exception_handler(HttpError, self._http_error)
        self.add_exception_handler(RequestDataTooBig, self._too_large)
        self.add_exception_handler(RawPostDataException, self._form_body)

    # Ninja's stub types a handler's exception as "instance or class"; it passes the instance.
    def _http_error(self, request: HttpRequest, exc: HttpError | type[HttpError]) -> HttpResponse:
        assert isinstance(exc, HttpError)
        # Ninja wraps parser failures as "Cannot parse request body"; ours carry a message.
        cause = exc.__cause__
        detail = cause.message if isinstance(cause, json_input.JSONInputError) else str(exc)
        return self.create_response(request, {"detail": detail}, status=exc.status_code)

    def _too_large(self, request: HttpRequest, exc: Exception | type[Exception]) -> HttpResponse:
        return middleware.too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    def _form_body(self, request: HttpRequest, exc: Exception | type[Exception]) -> HttpResponse:
        # Ninja reads `request.body` before the parser; a form body was already read as a form.
        detail = _("Send the body as JSON, not as a form.")
        return self.create_response(request, {"detail": detail}, status=400)

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, methods in schema["paths"].items():
            for method, operation in methods.items():
                responses = operation["responses"]
                for status in error_statuses(path, method, operation):
                    if status not in responses and str(status) not in responses:
                        responses[status] = {
                            "description": ERROR_DESCRIPTIONS[status],
                            "content": error,
                        }
        return schema
