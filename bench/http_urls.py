"""The project's URLs plus `bench/ok`: the least a request through the middleware costs."""

import os

from django.http import HttpResponse
from django.urls import path

from telehealth.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def ok(request):
    return HttpResponse("ok", content_type="text/plain")


def pid(request):
    """Which worker answered: the benchmark waits until every worker has."""
    return HttpResponse(str(os.getpid()), content_type="text/plain")


urlpatterns = [path("bench/ok", ok, name="bench-ok"), path("bench/pid", pid), *urlpatterns]
