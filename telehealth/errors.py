"""Error pages: plain, calm, and JSON for the API."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from telehealth import middleware


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django answers here for SuspiciousOperation; a body over DATA_UPLOAD_MAX_MEMORY_SIZE
    read by a view (`request.body`) is a request too large, not a malformed one."""
    if isinstance(exception, RequestDataTooBig):
        return middleware.too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return middleware.bad_request(request, _("The request could not be read."))


def permission_denied(request, exception=None):
    if middleware.wants_json(request):
        return JsonResponse({"detail": "You may not do that."}, status=403)
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    if middleware.wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if middleware.wants_json(request):
        return JsonResponse({"detail": "Something went wrong on our side."}, status=500)
    # No request context: the failure may be in a context processor or the database.
    return HttpResponse(render_to_string("errors/500.html"), status=500)
