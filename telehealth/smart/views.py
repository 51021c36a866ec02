"""The authorization server's public endpoints: the token endpoint (django-oauth-toolkit's)
and the SMART configuration that tells clients how to use it."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET
from oauth2_provider import views as oauth_views

from telehealth.fhir.registry import registered
from telehealth.smart.jwks import ALGORITHMS
from telehealth.smart.oauth import AUDIENCE_META


class TokenView(oauth_views.TokenView):
    """DOT's token endpoint. Client assertions must name it as their audience, by the URL the
    client reached it at (Host is one of ALLOWED_HOSTS)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.META[AUDIENCE_META] = request.build_absolute_uri(request.path)
        return super().post(request, *args, **kwargs)


def supported_scopes() -> list[str]:
    """The system scopes worth asking for, in both syntaxes: every type, then each type served
    (with create and update where its mapper writes)."""
    offered = ["system/*.rs", "system/*.read"]
    for mapper in registered():
        kind = mapper.resource_type
        letters = ("c" if mapper.create else "") + "r" + ("u" if mapper.update else "") + "s"
        offered += [f"system/{kind}.{letters}", f"system/{kind}.read"]
        if mapper.create or mapper.update:
            offered.append(f"system/{kind}.write")
    return offered


@require_GET
def configuration(request: HttpRequest) -> HttpResponse:
    """`.well-known/smart-configuration`, at the site root and under the FHIR base
    (https://hl7.org/fhir/smart-app-launch/conformance.html)."""
    return JsonResponse(
        {
            "token_endpoint": request.build_absolute_uri(reverse("smart:token")),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": supported_scopes(),
            "capabilities": [
                "client-confidential-asymmetric",
                "permission-v1",
                "permission-v2",
            ],
        }
    )
