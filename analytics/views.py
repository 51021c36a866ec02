"""The practice's dashboards: aggregate figures only, so not a PHI page (no patient is named
or listed). Practice admins of their own practice; staff MFA applies as everywhere."""

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics import selectors
from analytics.forms import FilterForm
from billing.worklists import csv_text
from telehealth.accounts.access import practice_admin_required


def _form(request) -> FilterForm:
    today = timezone.localdate(timezone=request.user.practice.zone)
    return FilterForm(request.GET or None, user=request.user, today=today)


def _problems(form: FilterForm) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@practice_admin_required
@require_GET
def dashboard(request):
    form = _form(request)
    if form.is_bound and not form.is_valid():
        return render(request, "analytics/dashboard.html", {"form": form}, status=400)
    if not form.is_bound:
        form = FilterForm({}, user=request.user, today=form.today)
        form.is_valid()
    sections = selectors.dashboard(user=request.user, filters=form.filters(), today=form.today)
    return render(
        request,
        "analytics/dashboard.html",
        {
            "form": form,
            "sections": sections,
            "query": request.GET.urlencode(),
            "zone": request.user.practice.time_zone,
        },
    )


@practice_admin_required
@require_GET
def table_csv(request, section: str, table: str):
    if section not in selectors.SECTIONS:
        raise Http404
    form = FilterForm(request.GET, user=request.user, today=_form(request).today)
    if not form.is_valid():
        return HttpResponseBadRequest(_problems(form), content_type="text/plain")
    found = selectors.section(
        user=request.user, filters=form.filters(), key=section, today=form.today
    )
    chosen = next((t for t in found.tables if t.key == table), None)
    if chosen is None:
        raise Http404
    response = HttpResponse(
        csv_text([chosen.headers, *chosen.rows]), content_type="text/csv; charset=utf-8"
    )
    filters = form.filters()
    response["Content-Disposition"] = (
        f'attachment; filename="{table}-{filters.first_day}-{filters.last_day}.csv"'
    )
    return response
