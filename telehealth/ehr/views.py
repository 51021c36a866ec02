"""The EHR launch endpoints: the URL the EHR opens (`launch`), the return from sign-in
(`resume`) and the OAuth redirect URI (`callback`). Thin: the flow is in telehealth.ehr.launch."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from telehealth.accounts.access import clinician_required, lacks_practice, no_practice_response
from telehealth.ehr import launch as flow
from telehealth.ehr.launch import LaunchRefused


def launch_url() -> str:
    return f"{settings.SITE_URL}{reverse('ehr:launch')}"


def redirect_uri() -> str:
    return f"{settings.SITE_URL}{reverse('ehr:callback')}"


def _problem(request, refused: LaunchRefused):
    return render(
        request,
        "ehr/launch_problem.html",
        {"problem": refused.message, "visits_link": refused.visits_link},
        status=refused.status,
    )


@require_GET
def launch(request):
    """Opened by the EHR with `iss` and `launch`. Anyone may arrive here; a visitor is sent
    through sign-in (and MFA) and comes back to `resume` with the launch kept in the session."""
    iss = flow.registered_iss(request.GET.get("iss", ""))
    code = request.GET.get("launch", "")
    if not iss or not code:
        return _problem(
            request,
            LaunchRefused(
                _("This launch names no EHR registered here (iss), or carries no launch code.")
            ),
        )
    if not request.user.is_authenticated:
        flow.resume_keep(request.session, iss=iss, launch=code)
        return redirect_to_login(reverse("ehr:resume"))
    return _begin(request, iss=iss, launch_code=code)


@clinician_required
@require_GET
def resume(request):
    taken = flow.resume_take(request.session)
    if taken is None:
        return _problem(
            request,
            LaunchRefused(_("No EHR launch is waiting, or it expired. Launch again from the EHR.")),
        )
    iss, code = taken
    return _begin(request, iss=iss, launch_code=code)


def _begin(request, *, iss: str, launch_code: str):
    user = request.user
    if not user.is_clinician:
        raise PermissionDenied
    if lacks_practice(user):
        return no_practice_response(request)
    try:
        server = flow.server_for(user=user, iss=iss)
        url = flow.launch_begin(
            session=request.session,
            user=user,
            server=server,
            launch=launch_code,
            redirect_uri=redirect_uri(),
        )
    except LaunchRefused as refused:
        return _problem(request, refused)
    return redirect(url)


@clinician_required
@require_GET
def callback(request):
    """The EHR's answer: a code and our state, or an error."""
    if "error" in request.GET:
        flow.pending_discard(request.session, state=request.GET.get("state", ""))
        return _problem(
            request,
            LaunchRefused(
                _("The EHR did not authorize the launch (%(error)s: %(description)s).")
                % {
                    "error": request.GET.get("error", "")[:100],
                    "description": request.GET.get("error_description", "")[:300],
                },
                visits_link=True,
            ),
        )
    try:
        landed = flow.launch_complete(
            session=request.session,
            user=request.user,
            state=request.GET.get("state", ""),
            code=request.GET.get("code", ""),
            redirect_uri=redirect_uri(),
            request=request,
        )
    except LaunchRefused as refused:
        return _problem(request, refused)
    return redirect(landed.url)
