"""Bearer tokens on the FHIR API (SMART on FHIR backend services).

A request with `Authorization: Bearer <token>` is served as whoever the token stands for and
may do only what its scopes grant; a request without one keeps its signed-in session, checked
as before. The authorization server is an app (telehealth.smart): it registers a
`BearerAuthority` in its AppConfig.ready, so this core imports none.

Views under `fhir_view` get the scope of the URL's resource type checked from the method
(GET read `r` / search `s`, POST `c`, PUT and PATCH `u`, DELETE `d`). A view that acts on other
types than its URL names (a transaction Bundle's entries, `$export`) calls `require_scope`
(or `permitted`) for each of them."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from telehealth.fhir import scopes
from telehealth.fhir.registry import mapper_for
from telehealth.fhir.responses import FhirError

SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

# Set on the request: the token's granted scopes (absent on session requests), and which
# challenge a refusal answers with.
_SCOPES_ATTR = "fhir_token_scopes"
_CHALLENGE_ATTR = "fhir_token_challenge"

_INTERACTION_BY_METHOD = {
    "POST": scopes.CREATE,
    "PUT": scopes.UPDATE,
    "PATCH": scopes.UPDATE,
    "DELETE": scopes.DELETE,
}
_VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


@dataclass(frozen=True)
class BearerAuthority:
    # The user and the space-separated granted scopes a request's Bearer token stands for,
    # or None for a token that is unknown, expired or revoked.
    verify: Callable[[HttpRequest], tuple[Any, str] | None]
    # The URL name of the token endpoint (for the CapabilityStatement).
    token_url_name: str


_authority: BearerAuthority | None = None


def register(authority: BearerAuthority) -> None:
    global _authority
    _authority = authority


def bearer_token(request: HttpRequest) -> str | None:
    """The Bearer token the request carries ("" for an empty one), None without one."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def authenticate(request: HttpRequest, view_kwargs: dict) -> None:
    """For a Bearer request: serve it as the token's user with the token's scopes, and check
    the scope for the resource type and interaction the URL and method name. Raises FhirError
    401 for a token that is not valid, 403 for one whose scopes fall short."""
    token = bearer_token(request)
    if token is None:
        return
    identity = _authority.verify(request) if token and _authority is not None else None
    if identity is None or identity[0] is None:
        setattr(request, _CHALLENGE_ATTR, 'error="invalid_token"')
        raise FhirError(401, "The access token is not valid: it is unknown, or has expired.")
    request.user, granted = identity
    setattr(request, _SCOPES_ATTR, scopes.parse_all(scopes.split(granted)))
    resource_type = view_kwargs.get("resource_type")
    if resource_type and mapper_for(resource_type) is not None:
        interaction = _INTERACTION_BY_METHOD.get(request.method or "GET")
        if interaction is None:
            interaction = scopes.READ if "resource_id" in view_kwargs else scopes.SEARCH
        require_scope(request, resource_type, interaction)


def permitted(request: HttpRequest, resource_type: str, interaction: str) -> bool:
    """Whether the request may do `interaction` (one of "cruds") on `resource_type` as far as
    scopes go: always for a session request (its user's role and selectors decide)."""
    granted = getattr(request, _SCOPES_ATTR, None)
    return granted is None or scopes.permits(granted, resource_type, interaction)


def require_scope(request: HttpRequest, resource_type: str, interaction: str) -> None:
    """Raise FhirError 403 unless the request's token grants `interaction` ("c", "r", "u",
    "d" or "s") on `resource_type`. Session requests pass."""
    if not permitted(request, resource_type, interaction):
        setattr(request, _CHALLENGE_ATTR, 'error="insufficient_scope"')
        raise FhirError(
            403,
            f"The access token's scopes do not allow {_VERBS[interaction]} on {resource_type}.",
        )


def challenge(request: HttpRequest, response: HttpResponse) -> None:
    """Say on a refused Bearer request what was wrong with its token (RFC 6750 section 3)."""
    error = getattr(request, _CHALLENGE_ATTR, None)
    if error is not None and response.status_code in (401, 403):
        response["WWW-Authenticate"] = f'Bearer realm="fhir", {error}'


def security(base_url: str) -> dict:
    """CapabilityStatement.rest.security: SMART on FHIR with its token endpoint, when an
    authorization server is registered; the session otherwise."""
    if _authority is None:
        return {"description": "Signed-in session of a user of the practice."}
    return {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {
                        "url": "token",
                        "valueUri": urljoin(base_url, reverse(_authority.token_url_name)),
                    }
                ],
            }
        ],
        "service": [
            {
                "coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                "text": "SMART on FHIR backend services (client credentials, private_key_jwt)",
            }
        ],
        "description": (
            "OAuth2 Bearer tokens from SMART backend services (system scopes, v1 and v2 "
            "syntax; see .well-known/smart-configuration), or a signed-in session of a user "
            "of the practice."
        ),
    }
