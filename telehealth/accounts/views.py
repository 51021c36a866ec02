"""Sign-in, MFA, role landing pages and the patient record pages of the core."""

import base64
import time
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from telehealth import links
from telehealth.accounts import chart, invitations, lockout, selectors, services
from telehealth.accounts import home as home_panels
from telehealth.accounts.access import (
    clinician_required,
    practice_admin_required,
    staff_required,
)
from telehealth.accounts.forms import (
    AccountPasswordForm,
    BreakGlassForm,
    EmailLoginForm,
    EmailPasswordResetForm,
    InvitationDateOfBirthForm,
    OTPTokenForm,
    ReviewForm,
)
from telehealth.accounts.models import Role
from telehealth.accounts.policy import (
    LAST_SEEN_KEY,
    has_confirmed_device,
    record_activity,
    seconds_left,
)
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.audit.phi import note_phi_access, phi_view


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


class LoginView(auth_views.LoginView):
    form_class = EmailLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        # A new patient who lands here must still find where to book.
        return super().get_context_data(practices=selectors.practices_for_visitors(), **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if getattr(self.request, lockout.LOCKED_UNTIL_ATTR, None) is not None:
            return lockout.locked_out_response(self.request)
        return super().form_invalid(form)


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    form_class = EmailPasswordResetForm
    success_url = reverse_lazy("accounts:password-reset-done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reset never signs the user in: they log in again, and MFA still applies."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")
    post_reset_login = False

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        # Whoever guessed at the old password has nothing left to guess at.
        lockout.sign_in_backoff_clear(user=form.user)
        return response


@require_http_methods(["GET", "POST"])
def mfa_setup(request):
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if user_has_device(request.user, confirmed=True) and not request.user.is_verified():
        return redirect("accounts:mfa-verify")
    device = services.totp_device_start(user=request.user)
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = services.totp_device_confirm(
            user=request.user, device=device, token=form.cleaned_data["token"], request=request
        )
        if codes is not None:
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": codes, "next": safe_next(request, reverse("home"))},
            )
        form.add_error(
            "token",
            _("That code did not match. Check the time on your phone and enter the newest code."),
        )
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "form": form,
            "qr_data_uri": qr.svg_data_uri(scale=5, border=2),
            "secret": _base32_secret(device),
            "next": safe_next(request, ""),
        },
    )


def _base32_secret(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@require_http_methods(["GET", "POST"])
def mfa_verify(request):
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if request.user.is_verified():
        return redirect(safe_next(request, reverse("home")))
    form = OTPTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(safe_next(request, reverse("home")))
        audit.record(action=Action.MFA_FAILED, actor=request.user, request=request)
        form.add_error("token", _("That code did not match. Try the newest code."))
    return render(
        request, "accounts/mfa_verify.html", {"form": form, "next": safe_next(request, "")}
    )


@require_http_methods(["GET", "POST"])
def security(request):
    """Manage MFA: regenerate backup codes; patients may turn MFA on or off."""
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    user = request.user
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "regenerate" and user_has_device(user, confirmed=True):
            codes = services.backup_codes_regenerate(user=user, request=request)
            return render(
                request,
                "accounts/backup_codes.html",
                {"codes": codes, "next": reverse("accounts:security")},
            )
        if action == "disable" and user.is_patient:
            services.mfa_disable(user=user, request=request)
            messages.success(request, _("Two-step verification is off."))
            return redirect("accounts:security")
        messages.error(request, _("That change is not available for your account."))
        return redirect("accounts:security")
    return render(request, "accounts/security.html", {"enrolled": has_confirmed_device(user)})


@require_POST
def keepalive(request):
    """The timeout warning's "Stay signed in" button: always moves the idle clock (the
    middleware may have left it, having moved it less than a minute ago)."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": _("Your session has ended.")}, status=401)
    now = time.time()
    record_activity(request.session, now=now, force=True)
    return JsonResponse(
        {
            "ok": True,
            "last_seen": request.session[LAST_SEEN_KEY],
            "seconds_left": seconds_left(request.session, request.user, now=now),
        }
    )


HOME_TEMPLATES = {
    Role.PATIENT: "home/patient.html",
    Role.CLINICIAN: "home/clinician.html",
    Role.FRONT_DESK: "home/front_desk.html",
    Role.PRACTICE_ADMIN: "home/practice_admin.html",
}


def home(request):
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    context: dict[str, object] = {}
    if request.user.is_practice_admin:
        context["reviews_pending"] = (
            selectors.break_glass_grants_for_review(user=request.user)
            .filter(reviewed_at__isnull=True)
            .count()
        )
    if request.user.is_patient:
        context["patient"] = getattr(request.user, "patient", None)
    if request.user.role in (Role.PATIENT, Role.CLINICIAN, Role.FRONT_DESK):
        context["panels"] = home_panels.render_panels(request)
    return render(request, HOME_TEMPLATES[request.user.role], context)


@staff_required
@phi_view
def patient_list(request):
    query = request.GET.get("q", "")[:100]
    patients = list(selectors.search_patients(user=request.user, query=query)[:100])
    for patient in patients:  # each one shown is in their accounting of disclosures
        note_phi_access(request, patient)
    return render(request, "accounts/patient_list.html", {"patients": patients, "query": query})


@staff_required
@phi_view
def patient_chart(request, patient_id: int):
    try:
        patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    except selectors.BreakGlassRequired:
        return redirect("accounts:break-glass", patient_id=patient_id)
    note_phi_access(request, patient)
    grant = None
    if request.user.is_clinician and not selectors.is_on_care_team(
        user=request.user, patient=patient
    ):
        grant = selectors.active_break_glass(user=request.user, patient=patient)
    return render(
        request,
        "accounts/patient_chart.html",
        {
            "patient": patient,
            "grant": grant,
            "sections": chart.render_sections(request, patient),
            "invitable": invitations.invitable(patient),
            "invitation_email_taken": invitations.email_taken(patient),
        },
    )


@staff_required
@require_POST
def account_invitation_send(request, patient_id: int):
    """Staff send a patient without a portal account the invitation to create one."""
    try:
        patient = selectors.access_patient(user=request.user, patient_id=patient_id)
    except selectors.BreakGlassRequired:
        raise Http404 from None
    try:
        services.account_invitation_send(patient=patient, by=request.user, request=request)
    except services.AccountError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Invitation sent by email."))
    return redirect("accounts:patient-chart", patient_id=patient.pk)


def _invitation_page(request, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    return render(request, "accounts/invitation.html", context, status=status)


@phi_view
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """The account invitation: the patient's date of birth, then a password for the account
    (signed in at once: patients need no second factor), then home."""
    try:
        patient = links.read(invitations.INVITE, token)
    except links.LinkEnded:
        return render(
            request, "accounts/invitation_problem.html", {"has_account": True}, status=410
        )
    except links.LinkError as error:
        return render(
            request, "accounts/invitation_problem.html", {"problem": error.message}, status=410
        )
    practice = patient.practice
    if request.user.is_authenticated:
        # Creating the account would sign this user out under their feet.
        return _invitation_page(request, {"practice": practice, "signed_in": True}, status=409)
    if not patient.email:
        return _invitation_page(
            request,
            {"practice": practice, "problem": services.no_email_message(patient)},
            status=409,
        )
    if request.session.get(invitations.SESSION_KEY) != token:
        return _invitation_date_of_birth(request, token, patient)
    note_phi_access(request, patient)
    if selectors.email_in_use(patient.email):
        return _invitation_page(
            request,
            {"practice": practice, "problem": services.email_taken_message(patient)},
            status=409,
        )
    posted = request.POST if request.method == "POST" else None  # an empty POST is an error
    form = AccountPasswordForm(posted, account=invitations.unsaved_account(patient))
    if request.method == "POST" and form.is_valid():
        try:
            user = services.patient_account_create(
                patient=patient, password=form.cleaned_data["password1"], request=request
            )
        except services.AccountError as error:
            form.add_error(None, error.message)
        else:
            login(request, user, backend="telehealth.accounts.lockout.SignInBackoffBackend")
            request.session.pop(invitations.SESSION_KEY, None)
            messages.success(request, _("Your account is ready. Welcome!"))
            return redirect("home")
    return _invitation_page(
        request,
        {"practice": practice, "patient": patient, "form": form},
        status=400 if form.errors else 200,
    )


def _invitation_date_of_birth(request, token: str, patient) -> HttpResponse:
    form = InvitationDateOfBirthForm(request.POST if request.method == "POST" else None)
    typed = (
        form.cleaned_data["date_of_birth"] if request.method == "POST" and form.is_valid() else None
    )
    outcome = links.date_of_birth_check(kind=invitations.INVITE, obj=patient, date_of_birth=typed)
    context: dict[str, Any] = {"practice": patient.practice, "dob_form": form}
    if outcome == links.DateOfBirth.LOCKED:
        return _invitation_page(request, {**context, "locked": True}, status=429)
    if outcome == links.DateOfBirth.RIGHT:
        # A new session key: whoever knew the old one gains nothing from this browser's check.
        request.session.cycle_key()
        request.session[invitations.SESSION_KEY] = token
        return redirect("accounts:invitation", token=token)
    if outcome == links.DateOfBirth.WRONG:
        form.add_error("date_of_birth", _("That date of birth does not match our records."))
    return _invitation_page(request, context, status=400 if form.errors else 200)


@clinician_required
@require_http_methods(["GET", "POST"])
def break_glass(request, patient_id: int):
    try:
        selectors.access_patient(user=request.user, patient_id=patient_id)
        return redirect("accounts:patient-chart", patient_id=patient_id)
    except selectors.BreakGlassRequired as needed:
        patient = needed.patient
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.break_glass_grant(
            clinician=request.user,
            patient=patient,
            reason=form.cleaned_data["reason"],
            request=request,
        )
        return redirect("accounts:patient-chart", patient_id=patient.pk)
    # The name is shown so the clinician knows whose chart they are about to open; the
    # practice already shares its patient list with its clinicians for scheduling.
    return render(
        request,
        "accounts/break_glass.html",
        {"form": form, "patient": patient},
        status=400 if form.errors else 200,
    )


@practice_admin_required
@phi_view
def patient_audit_trail(request, patient_id: int):
    patient, events = selectors.patient_audit_trail(user=request.user, patient_id=patient_id)
    note_phi_access(request, patient)
    return render(
        request,
        "accounts/audit_trail.html",
        {"patient": patient, "events": events.select_related("actor")[:500]},
    )


@practice_admin_required
def break_glass_reviews(request):
    grants = selectors.break_glass_grants_for_review(user=request.user)[:200]
    return render(request, "accounts/break_glass_reviews.html", {"grants": grants})


@practice_admin_required
@require_http_methods(["GET", "POST"])
def break_glass_review(request, grant_id: int):
    grant = selectors.access_break_glass_grant(user=request.user, grant_id=grant_id)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.break_glass_review(
            grant=grant, by=request.user, note=form.cleaned_data["note"], request=request
        )
        messages.success(request, _("Review recorded."))
        return redirect("accounts:break-glass-reviews")
    return render(request, "accounts/break_glass_review.html", {"grant": grant, "form": form})


def csrf_failure(request, reason: str = "") -> HttpResponse:
    return render(request, "errors/403_csrf.html", status=403)
