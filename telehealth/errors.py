"""Error pages: plain, calm, and JSON for the API."""

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string


def _json(request) -> bool:
    return request.path.startswith("/api/")


def permission_denied(request, exception=None):
    if _json(request):
        return JsonResponse({"detail": "You may not do that."}, status=403)
    return render(request, "errors/403.html", status=403)


def page_not_found(request, exception=None):
    if _json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if _json(request):
        return JsonResponse({"detail": "Something went wrong on our side."}, status=500)
    # No request context: the failure may be in a context processor or the database.
    return HttpResponse(render_to_string("errors/500.html"), status=500)
