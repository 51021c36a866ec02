"""The FHIR API's side of this app: who an access token acts as, and with which scopes."""

from django.http import HttpRequest
from oauth2_provider.oauth2_backends import get_oauthlib_core

from telehealth.accounts.models import User


def verify_bearer(request: HttpRequest) -> tuple[User, str] | None:
    """The service user and the granted scopes of the request's Bearer token; None when the
    token is unknown, expired, or its client has been deactivated."""
    valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
    if not valid or oauth_request is None:
        return None
    return oauth_request.user, oauth_request.access_token.scope
