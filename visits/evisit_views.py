"""Pages of e-visits. Patients: the list with the conditions to start one for, the draft
(questionnaire and photos) and the case (status, questions to answer, the response).
Clinicians: the queue with its SLA timers and the case (answers, photos, questions, time,
assessment and plan, escalation). Photos are downloaded one by one, each read audited."""

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from intake import render as form_render
from telehealth.accounts.access import clinician_required, patient_required, role_required
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view
from visits import evisit_panels
from visits import evisit_selectors as selectors
from visits import evisit_services as services
from visits.forms import (
    EVisitAskForm,
    EVisitCompleteForm,
    EVisitEscalateForm,
    EVisitReplyForm,
    EVisitTimeForm,
)
from visits.models import EVisit

State = EVisit.State

# --- The patient's pages ---------------------------------------------------------------------


@patient_required
@phi_view
def mine(request) -> HttpResponse:
    patient = request.user.patient
    if not selectors.conditions_offered(patient).exists():
        services.conditions_install(patient.practice)  # as intake installs its forms
    note_phi_access(request, patient)
    return render(
        request,
        "visits/evisit_mine.html",
        {
            "conditions": selectors.conditions_offered(patient),
            "evisits": selectors.patient_evisits(request.user),
        },
    )


@patient_required
@require_POST
def start(request, condition_id: int) -> HttpResponse:
    patient = request.user.patient
    condition = get_object_or_404(selectors.conditions_offered(patient), pk=condition_id)
    evisit = services.evisit_start(patient=patient, condition=condition, request=request)
    return redirect("visits:evisit", evisit.pk)


def _draft_page(request, evisit: EVisit, *, stored: dict, errors: dict, status: int = 200):
    definition = evisit.response.form_version.questionnaire if evisit.response else {}
    return render(
        request,
        "visits/evisit_draft.html",
        {
            "evisit": evisit,
            "rows": form_render.rows(definition, stored, errors),
            "errors": errors,
            "photo_error": errors.get("photos", ""),
            "photos": evisit.photos.all(),
            "room": services.MAX_PHOTOS - evisit.photos.count(),
            "yes_no_choices": [("true", _("Yes")), ("false", _("No"))],
        },
        status=status,
    )


@patient_required
@phi_view
@require_http_methods(["GET", "POST"])
def evisit(request, evisit_id: int) -> HttpResponse:
    """The patient's case: the draft to fill and submit, then its progress and response."""
    evisit = selectors.access_evisit(user=request.user, evisit_id=evisit_id)
    note_phi_access(request, evisit, patient=evisit.patient)
    if evisit.state == State.DRAFT:
        if request.method == "GET":
            stored = evisit.response.answers if evisit.response else {}
            return _draft_page(request, evisit, stored=stored or {}, errors={})
        definition = evisit.response.form_version.questionnaire if evisit.response else {}
        raw = form_render.posted(definition, request.POST)
        submit = request.POST.get("action") == "submit"
        try:
            saved = services.evisit_save(
                evisit=evisit,
                raw=raw,
                uploads=request.FILES.getlist("photos"),
                submit=submit,
                request=request,
            )
        except services.EVisitError as error:
            messages.error(request, error.message)
            return redirect("visits:evisit", evisit.pk)
        if saved.errors:
            evisit.refresh_from_db()
            return _draft_page(request, evisit, stored=raw, errors=saved.errors, status=400)
        if saved.submitted:
            messages.success(request, _("Sent. Your care team will answer here."))
        else:
            messages.success(request, _("Saved. You can finish and send it later."))
        return redirect("visits:evisit", evisit.pk)
    if request.method == "POST":
        return redirect("visits:evisit", evisit.pk)  # an old tab's draft: what was sent stands
    return _case_page(request, evisit)


def _case_page(request, evisit: EVisit, *, reply_form=None, status: int = 200):
    return render(
        request,
        "visits/evisit_case.html",
        {
            "evisit": evisit,
            "answers": selectors.answers_of(evisit),
            "photos": evisit.photos.all(),
            "messages_": selectors.messages_of(evisit),
            "reply_form": reply_form or EVisitReplyForm(),
        },
        status=status,
    )


@patient_required
@phi_view
@require_POST
def reply(request, evisit_id: int) -> HttpResponse:
    evisit = selectors.access_evisit(user=request.user, evisit_id=evisit_id)
    form = EVisitReplyForm(request.POST)
    if form.is_valid():
        try:
            services.evisit_reply(
                evisit=evisit, by=request.user, body=form.cleaned_data["body"], request=request
            )
        except services.EVisitError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Sent. Your clinician will see your answer."))
            return redirect("visits:evisit", evisit.pk)
    note_phi_access(request, evisit, patient=evisit.patient)
    return _case_page(request, evisit, reply_form=form, status=400)


@patient_required
@require_POST
def cancel(request, evisit_id: int) -> HttpResponse:
    evisit = selectors.access_evisit(user=request.user, evisit_id=evisit_id)
    try:
        services.evisit_cancel(evisit=evisit, by=request.user, request=request)
    except services.EVisitError as error:
        messages.error(request, error.message)
        return redirect("visits:evisit", evisit.pk)
    messages.success(request, _("The e-visit is cancelled."))
    return redirect("visits:evisits")


@role_required(Role.PATIENT, Role.CLINICIAN)
@phi_view
@require_GET
def photo(request, photo_id: int) -> FileResponse:
    """One photo, full size, for the case's patient and its clinician; each read audited."""
    found = selectors.access_evisit_photo(user=request.user, photo_id=photo_id)
    note_phi_access(request, found, patient=found.evisit.patient)
    response = FileResponse(found.file.open("rb"), content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


# --- The clinician's pages -------------------------------------------------------------------


@clinician_required
@phi_view
@require_GET
def queue(request) -> HttpResponse:
    page = selectors.queue(user=request.user, page=request.GET.get("page"))
    for case in page.object_list:
        note_phi_access(request, case, patient=case.patient)
    return render(request, "visits/evisit_queue.html", {"page": page, "now": timezone.now()})


def _review_page(request, evisit: EVisit, *, forms: dict | None = None, status: int = 200):
    today = timezone.localdate(timezone=evisit.practice.zone)
    context = {
        "evisit": evisit,
        "answers": selectors.answers_of(evisit),
        "photos": evisit.photos.all(),
        "messages_": selectors.messages_of(evisit),
        "time_entries": evisit.time_entries.select_related("clinician"),
        "minutes": selectors.case_minutes(evisit),
        "now": timezone.now(),
        "mine": evisit.assigned_to_id == request.user.pk,
        "ask_form": EVisitAskForm(),
        "time_form": EVisitTimeForm(initial={"work_date": today}),
        "complete_form": EVisitCompleteForm(),
        "escalate_form": EVisitEscalateForm(),
        "panels": evisit_panels.render_panels(request, evisit),
        **(forms or {}),
    }
    return render(request, "visits/evisit_review.html", context, status=status)


@clinician_required
@phi_view
@require_GET
def review(request, evisit_id: int) -> HttpResponse:
    evisit = selectors.access_evisit(user=request.user, evisit_id=evisit_id)
    note_phi_access(request, evisit, patient=evisit.patient)
    return _review_page(request, evisit)


def _act(request, evisit_id: int, form_class, name: str, act) -> HttpResponse:
    """A clinician's action from the case page: the form checked, the service called, back to
    the case; a refusal is shown on the case page with a 400."""
    evisit = selectors.access_evisit(user=request.user, evisit_id=evisit_id)
    form = form_class(request.POST) if form_class else None
    if form is None or form.is_valid():
        try:
            act(evisit, form.cleaned_data if form else {})
        except services.EVisitError as error:
            if form is None:
                messages.error(request, error.message)
                return redirect("visits:evisit-review", evisit.pk)
            form.add_error(None, error.message)
        else:
            return redirect("visits:evisit-review", evisit.pk)
    note_phi_access(request, evisit, patient=evisit.patient)
    return _review_page(request, evisit, forms={name: form}, status=400)


@clinician_required
@phi_view
@require_POST
def assign(request, evisit_id: int) -> HttpResponse:
    return _act(
        request,
        evisit_id,
        None,
        "",
        lambda evisit, _data: services.evisit_assign(
            evisit=evisit, clinician=request.user, request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def ask(request, evisit_id: int) -> HttpResponse:
    return _act(
        request,
        evisit_id,
        EVisitAskForm,
        "ask_form",
        lambda evisit, data: services.evisit_ask(
            evisit=evisit, clinician=request.user, body=data["body"], request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def record_time(request, evisit_id: int) -> HttpResponse:
    return _act(
        request,
        evisit_id,
        EVisitTimeForm,
        "time_form",
        lambda evisit, data: services.evisit_time_record(
            evisit=evisit, clinician=request.user, request=request, **data
        ),
    )


@clinician_required
@phi_view
@require_POST
def complete(request, evisit_id: int) -> HttpResponse:
    return _act(
        request,
        evisit_id,
        EVisitCompleteForm,
        "complete_form",
        lambda evisit, data: services.evisit_complete(
            evisit=evisit, clinician=request.user, request=request, **data
        ),
    )


@clinician_required
@phi_view
@require_POST
def escalate(request, evisit_id: int) -> HttpResponse:
    return _act(
        request,
        evisit_id,
        EVisitEscalateForm,
        "escalate_form",
        lambda evisit, data: services.evisit_escalate(
            evisit=evisit, clinician=request.user, note=data["note"], request=request
        ),
    )
