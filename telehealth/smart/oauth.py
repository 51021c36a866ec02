"""django-oauth-toolkit, taught SMART Backend Services (OAUTH2_PROVIDER's
OAUTH2_VALIDATOR_CLASS): clients authenticate with a signed JWT assertion and nothing else,
get the scopes they ask for within those registered, and their tokens serve as the client's
service user while the client is active."""

from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from telehealth.fhir import scopes as smart_scopes
from telehealth.smart import services
from telehealth.smart.assertion import JWT_BEARER, AssertionRejected, unverified_issuer, verify
from telehealth.smart.models import SmartClient

# The Django request's META key under which the token view passes the URL assertions must
# name as their audience (META keys from HTTP headers all start with HTTP_, so no client can
# set it).
AUDIENCE_META = "SMART_TOKEN_AUDIENCE"


class SmartValidator(OAuth2Validator):
    def authenticate_client(self, request, *args, **kwargs) -> bool:
        """private_key_jwt only: a client secret, HTTP Basic or no credentials at all are
        refused (invalid_client), and so is any assertion that fails a check."""
        body = dict(request.decoded_body or [])
        if body.get("client_assertion_type") != JWT_BEARER or not body.get("client_assertion"):
            raise errors.InvalidClientError(
                description="Authenticate with a signed JWT: client_assertion_type "
                f"{JWT_BEARER} and client_assertion.",
                request=request,
            )
        if "client_secret" in body or "Authorization" in request.headers:
            # One authentication method per request (RFC 6749 section 2.3).
            raise errors.InvalidClientError(
                description="Authenticate with the client assertion alone.", request=request
            )
        try:
            client = self._authenticated_client(request, body["client_assertion"])
        except AssertionRejected as reason:
            raise errors.InvalidClientError(description=str(reason), request=request) from None
        request.client = client.application
        request.smart_client = client
        return True

    def _authenticated_client(self, request, token: str) -> SmartClient:
        client_id = unverified_issuer(token)
        if request.client_id and request.client_id != client_id:
            raise AssertionRejected("client_id and the assertion's iss differ.")
        client = (
            SmartClient.objects.select_related("application")
            .filter(application__client_id=client_id)
            .first()
        )
        if client is None or not client.is_active:
            raise AssertionRejected("No active client is registered with this client_id.")
        assertion = verify(
            token,
            client_id=client_id,
            jwks=client.jwks,
            audience=request.headers.get(AUDIENCE_META, ""),
            now=timezone.now(),
        )
        if not services.assertion_jti_spend(
            client=client, jti=assertion.jti, expires_at=assertion.expires_at
        ):
            raise AssertionRejected("This client assertion (jti) has been used already.")
        return client

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs) -> bool:
        """Grant the requested scopes that the client is registered for, and say which in the
        token response; invalid_scope when none of them is."""
        smart_client = getattr(request, "smart_client", None)
        if smart_client is None:
            return False
        grant = smart_scopes.granted(scopes, smart_scopes.split(smart_client.scopes))
        if not grant:
            return False
        request.scopes = grant
        return True

    def get_default_scopes(self, client_id, request, *args, **kwargs) -> list[str]:
        return []  # a client names the scopes it wants

    def validate_bearer_token(self, token, scopes, request) -> bool:
        """DOT's check (exists, unexpired), then: the token is a SMART client's and the client
        is still active; its service user is whom the request is served as."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        client = (
            SmartClient.objects.select_related("service_user")
            .filter(application_id=request.access_token.application_id, is_active=True)
            .first()
        )
        if client is None or not client.service_user.is_active:
            request.oauth2_error = {"error": "invalid_token"}
            return False
        request.user = client.service_user
        return True
