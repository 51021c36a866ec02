"""The project's URLs plus the benchmark's own views: `bench/ok`, the least a request through
the middleware costs, and two floors of the patient's appointments page (bench_http.py's
`patient_ok` and `patient_rows` kinds)."""

import os

from django.http import HttpResponse
from django.urls import path
from django.utils import timezone

from scheduling import patient_page
from telehealth.accounts.access import patient_required
from telehealth.audit.phi import note_phi_access, phi_view
from telehealth.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def ok(request):
    return HttpResponse("ok", content_type="text/plain")


def pid(request):
    """Which worker answered: the benchmark waits until every worker has."""
    return HttpResponse(str(os.getpid()), content_type="text/plain")


@patient_required
def patient_ok(request):
    """The least a signed-in patient's page costs: the session, the user and the role check."""
    return HttpResponse("ok", content_type="text/plain")


@patient_required
@phi_view
def patient_rows(request):
    """The appointments page without its template: its rows read and their access audited,
    as scheduling.views.my_appointments does for its first page."""
    page = patient_page.appointments_page(
        user=request.user, now=timezone.now(), after=None, before=None
    )
    for appointment in page.shown:
        note_phi_access(request, appointment, patient=request.user.patient)
    return HttpResponse(str(len(page.shown)), content_type="text/plain")


urlpatterns = [
    path("bench/ok", ok, name="bench-ok"),
    path("bench/pid", pid),
    path("bench/patient-ok", patient_ok),
    path("bench/patient-rows", patient_rows),
    *urlpatterns,
]
