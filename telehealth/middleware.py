import functools
from collections.abc import Callable

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.handlers.exception import response_for_exception
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.template.loader import render_to_string
from django.urls import resolve
from django.utils import translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext as _

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def wants_json(request: HttpRequest) -> bool:
    """The API, and the page endpoints that speak JSON (autosave, device check), answer JSON."""
    return (
        request.path.startswith(("/api/", "/fhir/")) or request.content_type == "application/json"
    )


def too_large(request: HttpRequest, limit: int) -> HttpResponse:
    limit_mb = max(1, limit // (1024 * 1024))
    message = _("The request is too large. The limit is %(limit)s MB.") % {"limit": limit_mb}
    if wants_json(request):
        return JsonResponse({"detail": message}, status=413)
    body = render_to_string("errors/413.html", {"message": message}, request=None)
    return HttpResponse(body, status=413)


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"detail": message}, status=400)
    body = render_to_string("errors/400.html", {"message": message}, request=None)
    return HttpResponse(body, status=400)


class RequestSizeLimitMiddleware:
    """Refuses bodies above REQUEST_MAX_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": _("Content-Length is not a number.")}, status=400)
        if length > settings.REQUEST_MAX_BODY_BYTES:
            return too_large(request, settings.REQUEST_MAX_BODY_BYTES)
        return self.get_response(request)


def _has_nul(data: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in data.lists())


class NulRefusalMiddleware:
    """Refuses NUL characters in the path, query string and form body with 400, once for every
    view.

    PostgreSQL cannot store NUL in text, so letting one through turns a typo or a probe into a
    500 wherever the value reaches the database. JSON bodies are checked where they are parsed
    (`telehealth.json_input`). Reading the form here also turns a form over
    DATA_UPLOAD_MAX_MEMORY_SIZE (413), too many fields or a broken multipart body (400) into a
    clear answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            refused = (
                "\x00" in request.path_info
                or _has_nul(request.GET)
                or (
                    request.method == "POST"
                    and request.content_type in FORM_TYPES
                    and _has_nul(request.POST)
                )
            )
        except RequestDataTooBig:
            return too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        except (SuspiciousOperation, MultiPartParserError):  # too many fields or files, bad parts
            return bad_request(request, _("The form could not be read."))
        if refused:
            return bad_request(request, _("Text may not contain NUL characters."))
        return self.get_response(request)


class NoStoreWhenSignedInMiddleware:
    """Every answer to a signed-in user is `Cache-Control: no-store` unless the view chose a
    policy itself: such pages show personal data, and a shared or back-button cache must not
    keep them. Placed after AuthenticationMiddleware so that it sees the user; the sign-in
    answer itself counts, since the user is known by the time it returns."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        signed_in = request.user.is_authenticated
        response = self.get_response(request)
        signed_in = signed_in or request.user.is_authenticated
        if signed_in and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


# Set on a response by django-csp's decorators or a view (messaging's embeddable widget) to
# change its policy: such a response is built by django-csp itself.
CSP_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


CSP_SETTING = "CONTENT_SECURITY_POLICY"


@functools.cache
def _settings_policies() -> tuple[str, str]:
    """The enforced and report-only headers the settings give, built by django-csp."""
    return build_policy(), build_policy(report_only=True)


@receiver(setting_changed)
def _forget_policies(setting: str, **kwargs: object) -> None:
    if setting.startswith(CSP_SETTING):
        _settings_policies.cache_clear()


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware, with the headers built once: a response without a nonce or a
    policy of its own gets the settings' policy, the same string every time, which django-csp
    rebuilds on every response (a deep copy of the parts, every directive joined again). Any
    other response is django-csp's own work. The rules for setting a header are django-csp's:
    not over one the view set, not on an exempt response or an excluded path, not on a 404 or
    500 in DEBUG."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in CSP_PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        enforced, report_only = _settings_policies()
        for header, policy, exempt, setting in (
            (HEADER, enforced, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (
                HEADER_REPORT_ONLY,
                report_only,
                "_csp_exempt_ro",
                "CONTENT_SECURITY_POLICY_REPORT_ONLY",
            ),
        ):
            if not policy or header in response or getattr(response, exempt, False) is not False:
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = policy
        # As django-csp: a nonce asked for after the header is written is an error, not a
        # nonce silently missing from the policy.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


class TokenAPIMiddleware:
    """Token-authenticated JSON endpoints (settings.TOKEN_API_PATHS) called with
    `Authorization: Bearer ...` skip the middleware that serves browsers and call their view
    at once. A device uploading readings has no session, no cookie and no user: loading a
    session, checking CSRF, resolving the user, MFA and session policy, messages, the viewer's
    time zone and building the CSP per response are pure cost there. CSRF is no concern: a
    browser never attaches an Authorization header on its own, and these views authenticate
    by the token alone (a session cookie sent along is ignored, never used).

    What still applies, in the same order as in the full stack: SecurityMiddleware (placed
    before this one: HSTS, nosniff, referrer and opener policies, the HTTPS redirect), the
    body size limit (413), NUL refusal (400), the language of Accept-Language, and the headers
    every answer carries (the CSP, X-Frame-Options) plus `Cache-Control: no-store`.
    Authentication, rate limiting and audit belong to the view and its services and run as
    they do for any request. Exceptions reach the same handlers as in the full stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.paths = frozenset(settings.TOKEN_API_PATHS)
        # The limits of the full stack, in front of the view instead of the rest of it.
        self.lean = RequestSizeLimitMiddleware(NulRefusalMiddleware(self._view))

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info not in self.paths or not request.META.get(
            "HTTP_AUTHORIZATION", ""
        ).startswith("Bearer "):
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        request.user = AnonymousUser()  # as AuthenticationMiddleware leaves a cookieless caller
        response = self.lean(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        response.headers.setdefault("X-Frame-Options", "DENY")
        enforced, report_only = _settings_policies()
        if enforced:
            response.headers.setdefault(HEADER, enforced)
        if report_only:
            response.headers.setdefault(HEADER_REPORT_ONLY, report_only)
        return response

    def _view(self, request: HttpRequest) -> HttpResponseBase:
        # An exception becomes its error response here, as in the full stack, so that answer
        # gets the headers above too.
        try:
            match = resolve(request.path_info)
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            return response_for_exception(request, exc)
