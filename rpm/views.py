"""Pages of remote monitoring: the clinicians' dashboard, a patient's trends with alerts,
devices, enrolment, time and monthly figures, and the patient's own trends."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from rpm import panels, selectors, services
from rpm.forms import DeviceForm, EnrollForm, ResolveForm, TimeForm
from rpm.models import Device
from telehealth.accounts.access import patient_required, role_required
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view

clinical = role_required(Role.CLINICIAN, Role.PRACTICE_ADMIN)
PERIODS = (7, 30, 90)


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    return days if days in PERIODS else 30


@clinical
@phi_view
def dashboard(request):
    rows = selectors.dashboard(user=request.user)
    for row in rows:
        note_phi_access(request, row["patient"])
    return render(request, "rpm/dashboard.html", {"rows": rows})


@clinical
@phi_view
def patient(request, patient_id: int):
    patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    note_phi_access(request, patient)
    days = _days(request)
    return render(
        request,
        "rpm/patient.html",
        {
            "patient": patient,
            "days": days,
            "periods": PERIODS,
            "charts": selectors.trends(
                patient=patient, days=days, limits=services.limits_for(patient)
            ),
            "alerts": selectors.alerts_of(patient=patient)[:30],
            "readings": selectors.recent_readings(patient=patient),
            "devices": patient.rpm_devices.order_by("-created_at"),
            "enrollments": selectors.enrollment_of(patient),
            "panels": panels.render_panels(request, patient),
            "time_form": TimeForm(),
            "device_form": DeviceForm(),
            "enroll_form": EnrollForm(),
            "resolve_form": ResolveForm(),
        },
    )


@clinical
@require_POST
def acknowledge(request, alert_id: int):
    alert = selectors.access_alert(user=request.user, alert_id=alert_id)
    services.acknowledge(alert=alert, by=request.user)
    messages.success(request, _("Alert acknowledged."))
    return redirect("rpm:patient", patient_id=alert.patient_id)


@clinical
@require_POST
def resolve(request, alert_id: int):
    alert = selectors.access_alert(user=request.user, alert_id=alert_id)
    form = ResolveForm(request.POST)
    try:
        if not form.is_valid():
            raise services.RpmError(_("Say what was done: a resolution note is required."))
        services.resolve(alert=alert, by=request.user, note=form.cleaned_data["note"])
        messages.success(request, _("Alert resolved."))
    except services.RpmError as error:
        messages.error(request, error.message)
    return redirect("rpm:patient", patient_id=alert.patient_id)


@role_required(Role.CLINICIAN)
@require_POST
def enroll(request, patient_id: int):
    patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    form = EnrollForm(request.POST)
    if form.is_valid():
        try:
            services.enroll(
                patient=patient,
                program=form.cleaned_data["program"],
                clinicians=[request.user],
                by=request.user,
            )
            messages.success(request, _("Enrolled. Add the patient's devices next."))
        except services.RpmError as error:
            messages.error(request, error.message)
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("rpm:patient", patient_id=patient.pk)


@clinical
@require_POST
def device_add(request, patient_id: int):
    patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    form = DeviceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the kind of device."))
        return redirect("rpm:patient", patient_id=patient.pk)
    device, token = services.device_create(patient=patient, by=request.user, **form.cleaned_data)
    return render(request, "rpm/device_token.html", {"device": device, "token": token})


@clinical
@require_POST
def device_revoke(request, device_id: int):
    device = Device.objects.filter(pk=device_id).select_related("patient").first()
    if device is None:
        raise Http404
    selectors.access_patient(user=request.user, patient_id=device.patient_id)
    services.device_revoke(device=device, by=request.user)
    messages.success(request, _("Token revoked: that device can no longer send readings."))
    return redirect("rpm:patient", patient_id=device.patient_id)


@clinical
@require_POST
def time_add(request, patient_id: int):
    patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    form = TimeForm(request.POST)
    try:
        if not form.is_valid():
            raise services.RpmError(_("Give the kind of time, the minutes (1-240) and the day."))
        services.time_log(patient=patient, by=request.user, **form.cleaned_data)
        messages.success(request, _("Time logged."))
    except services.RpmError as error:
        messages.error(request, error.message)
    return redirect("rpm:patient", patient_id=patient.pk)


@patient_required
@phi_view
def mine(request):
    patient = getattr(request.user, "patient", None)
    if patient is None:
        raise Http404
    note_phi_access(request, patient)
    days = _days(request)
    return render(
        request,
        "rpm/mine.html",
        {
            "patient": patient,
            "days": days,
            "periods": PERIODS,
            "charts": selectors.trends(
                patient=patient, days=days, limits=services.limits_for(patient)
            ),
        },
    )


def chart_section(request, patient) -> str:
    """The chart's monitoring panel, for clinicians and admins (registered in apps.ready)."""
    if request.user.role not in (Role.CLINICIAN, Role.PRACTICE_ADMIN):
        return ""
    return render_to_string(
        "rpm/_chart_section.html",
        {
            "patient": patient,
            "vitals": selectors.latest_vitals(patient=patient),
            "alerts": selectors.open_alerts(patient=patient),
        },
        request=request,
    )


HOME_ALERTS_SHOWN = 5


def home_section(request) -> str:
    """The clinician home's alerts panel (registered with the core's home page in apps.ready):
    the most urgent open alerts of the patients they monitor. Nobody else sees vitals here:
    the front desk never, and admins have the dashboard."""
    if request.user.role != Role.CLINICIAN:
        return ""
    alerts = selectors.open_alerts_for(user=request.user)
    shown = list(alerts[:HOME_ALERTS_SHOWN])
    for alert in shown:
        note_phi_access(request, alert, patient=alert.patient)
    total = len(shown) if len(shown) < HOME_ALERTS_SHOWN else alerts.count()
    # No request: the site-wide context processors would cost queries for nothing here.
    return render_to_string("rpm/_home_alerts.html", {"alerts": shown, "total": total})
