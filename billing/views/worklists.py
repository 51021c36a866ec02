"""Pages of billing: worklists. Totals per provider and month, the encounters as CSV, and the
monitored patients close to a threshold; and billing's panel on rpm's patient page."""

from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.translation import gettext as _

from billing import worklists
from billing.models import Encounter
from billing.progress import DUE_WINDOW
from billing.views.worklist_forms import ExportForm
from telehealth.accounts.access import role_required
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view

billing_staff = role_required(Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN)
exporters = role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
clinical = role_required(Role.CLINICIAN, Role.PRACTICE_ADMIN)

FIRST_YEAR, LAST_YEAR = 2000, 2100


@billing_staff
def totals(request):
    """Encounters per provider and month for a year; no patient is named, so not a PHI page.
    Clinicians see only their own (billing.selectors.encounters_for)."""
    this_year = timezone.localdate(timezone=request.user.practice.zone).year
    try:
        year = int(request.GET.get("year", this_year))
    except ValueError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return HttpResponseBadRequest(_("Give a year between 2000 and 2100."))
    can_export = request.user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN)
    return render(
        request,
        "billing/totals.html",
        {
            "year": year,
            "providers": worklists.by_provider(
                worklists.provider_month_totals(user=request.user, year=year)
            ),
            "statuses": Encounter.Status.choices,
            "export_form": ExportForm(practice_id=request.user.practice_id) if can_export else None,
        },
    )


@exporters
def encounters_csv(request):
    form = ExportForm(request.GET, practice_id=request.user.practice_id)
    if not form.is_valid():
        problems = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponseBadRequest(" ".join(problems), content_type="text/plain")
    text = worklists.encounters_csv_export(by=request.user, filters=form.filters(), request=request)
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{form.filename()}"'
    # Patients' names: never kept in a cache on the way or in the browser.
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


@clinical
@phi_view
def monitoring_due(request):
    rows = worklists.monitoring_due(user=request.user)
    for row in rows:
        note_phi_access(request, row.patient)
    return render(request, "billing/monitoring_due.html", {"rows": rows, "window": DUE_WINDOW})


def rpm_patient_panel(request, patient) -> str:
    """Billing's view of the period on rpm's patient page (registered in apps.ready). rpm's
    view has already let this user see the patient; the standing is read for them again."""
    if request.user.role not in (Role.CLINICIAN, Role.PRACTICE_ADMIN):
        return ""
    standing = worklists.monitoring_standing_of(user=request.user, patient=patient)
    if standing is None:
        return ""
    return render_to_string(
        "billing/_rpm_panel.html", {"standing": standing, "patient": patient}, request=request
    )
