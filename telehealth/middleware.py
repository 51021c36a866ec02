from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _


class RequestSizeLimitMiddleware:
    """Refuses bodies above REQUEST_MAX_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": _("Content-Length is not a number.")}, status=400)
        if length > settings.REQUEST_MAX_BODY_BYTES:
            limit_mb = settings.REQUEST_MAX_BODY_BYTES // (1024 * 1024)
            message = _("The request is too large. The limit is %(limit)s MB.") % {
                "limit": limit_mb
            }
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            body = render_to_string("errors/413.html", {"message": message}, request=None)
            return HttpResponse(body, status=413)
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
