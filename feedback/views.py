"""The survey (by its signed link or from the portal), the practice admin's list of answers
with the review-request action, and the practice's review settings."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from feedback import selectors, services
from feedback.forms import SettingsForm, SurveyForm
from feedback.links import SURVEY
from feedback.models import Survey
from telehealth import links
from telehealth.accounts.access import patient_required, practice_admin_required
from telehealth.audit.phi import note_phi_access, phi_view

ANSWERS_SHOWN = 100


def _answer(request, survey: Survey, *, by=None):
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_answer(survey=survey, by=by, request=request, **form.cleaned_data)
        except services.FeedbackError as error:
            return render(request, "feedback/done.html", {"message": error.message}, status=409)
        return render(request, "feedback/done.html", {"message": _("Thank you for your answers!")})
    status = 400 if form.errors else 200
    return render(request, "feedback/survey.html", {"form": form, "survey": survey}, status=status)


@require_http_methods(["GET", "POST"])
def survey_link(request, token: str):
    """No sign-in: the token opens this one survey, for 14 days, until it is answered."""
    try:
        survey = links.read(SURVEY, token)
    except links.LinkError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    return _answer(request, survey)


@patient_required
@require_http_methods(["GET", "POST"])
def survey(request, survey_id: int):
    found = selectors.access_survey(user=request.user, survey_id=survey_id)
    if found.answered_at is not None:
        return render(
            request,
            "feedback/done.html",
            {"message": _("This survey has already been answered. Thank you!")},
        )
    return _answer(request, found, by=request.user)


@practice_admin_required
@phi_view
def responses(request):
    """The answers with their comments (PHI: each one shown is audited)."""
    answers = list(selectors.answered_surveys(user=request.user)[:ANSWERS_SHOWN])
    for answer in answers:
        note_phi_access(request, answer, patient=answer.patient)
    settings = services.settings_for(request.user.practice)
    return render(request, "feedback/responses.html", {"answers": answers, "settings": settings})


@practice_admin_required
@require_POST
def review_request(request, survey_id: int):
    found = selectors.access_survey(user=request.user, survey_id=survey_id)
    try:
        services.review_request_send(survey=found, by=request.user, request=request)
    except services.FeedbackError as error:
        messages.error(request, error.message)
        return redirect("feedback:responses")
    messages.success(request, _("Review request queued."))
    return redirect("feedback:responses")


@practice_admin_required
@require_http_methods(["GET", "POST"])
def settings_page(request):
    current = services.settings_for(request.user.practice)
    form = SettingsForm(
        request.POST or None,
        initial={
            "review_url": current.review_url,
            "invite_reviews": current.invite_reviews,
            "review_interval_days": current.review_interval_days,
        },
    )
    if request.method == "POST" and form.is_valid():
        services.settings_save(
            practice=request.user.practice, by=request.user, request=request, **form.cleaned_data
        )
        messages.success(request, _("Feedback settings saved."))
        return redirect("feedback:settings")
    status = 400 if form.errors else 200
    return render(request, "feedback/settings.html", {"form": form}, status=status)


def home_section(request) -> str:
    """The patient's home: surveys waiting for an answer."""
    user = request.user
    if not user.is_authenticated or not user.is_patient:
        return ""
    waiting = list(selectors.open_surveys(user=user)[:3])
    if not waiting:
        return ""
    return render_to_string("feedback/_home_surveys.html", {"surveys": waiting}, request=request)
