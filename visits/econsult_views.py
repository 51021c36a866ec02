"""Pages of e-consults, for clinicians only: the inbox (cases received as a specialist, cases
sent), the specialist profile, a new case from a patient's chart, and the case page where
the specialist asks back and answers and both sides record time. Included files are
downloaded one by one, each read audited."""

from django.contrib import messages
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from telehealth.accounts.access import clinician_required
from telehealth.audit.phi import note_phi_access, phi_view
from visits import econsult_panels
from visits import econsult_selectors as selectors
from visits import econsult_services as services
from visits.forms import (
    ConsultSpecialistForm,
    EConsultAnswerForm,
    EConsultAskForm,
    EConsultDeclineForm,
    EConsultNewForm,
    EConsultReplyForm,
    EConsultTimeForm,
    EConsultWithdrawForm,
)
from visits.models import EConsult


@clinician_required
@phi_view
@require_GET
def inbox(request) -> HttpResponse:
    found = selectors.inbox(user=request.user)
    for case in (*found.received, *found.sent):
        note_phi_access(request, case, patient=case.patient)
    return render(
        request,
        "visits/econsult_inbox.html",
        {
            "inbox": found,
            "profile": selectors.specialist_profile(request.user),
        },
    )


@clinician_required
@require_http_methods(["GET", "POST"])
def profile(request) -> HttpResponse:
    current = selectors.specialist_profile(request.user)
    initial = (
        {"specialty": current.specialty, "accepting": current.accepting}
        if current
        else {"accepting": True}
    )
    form = ConsultSpecialistForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.specialist_profile_save(
                    user=request.user, request=request, **form.cleaned_data
                )
            except services.EConsultError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Saved."))
                return redirect("visits:econsults")
        status = 400
    return render(request, "visits/econsult_profile.html", {"form": form}, status=status)


@clinician_required
@phi_view
@require_http_methods(["GET", "POST"])
def new(request, patient_id: int) -> HttpResponse:
    patient = selectors.access_consult_patient(user=request.user, patient_id=patient_id)
    note_phi_access(request, patient, patient=patient)
    offers = selectors.records_offered(user=request.user, patient=patient)
    form = EConsultNewForm(
        request.POST or None,
        specialists=selectors.specialists_for(request.user),
        offers=offers,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                econsult = services.econsult_send(
                    requester=request.user,
                    patient=patient,
                    specialist=data["specialist"],
                    question=data["question"],
                    record_keys=data["records"],
                    patient_consented=data["patient_consented"],
                    request=request,
                )
            except services.EConsultError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Sent. You will be emailed when it is answered."))
                return redirect("visits:econsult", econsult.pk)
        status = 400
    context = {"patient": patient, "form": form, "offers": offers}
    return render(request, "visits/econsult_new.html", context, status=status)


def _case_page(request, econsult: EConsult, *, forms: dict | None = None, status: int = 200):
    is_specialist = econsult.specialist_id == request.user.pk
    today = timezone.localdate(timezone=econsult.practice.zone)
    context = {
        "econsult": econsult,
        "records": selectors.records_of(econsult),
        "messages_": selectors.messages_of(econsult),
        "time_entries": selectors.time_of(econsult),
        "minutes": selectors.consult_minutes(econsult),
        "is_specialist": is_specialist,
        "ask_form": EConsultAskForm(),
        "reply_form": EConsultReplyForm(),
        "answer_form": EConsultAnswerForm(),
        "decline_form": EConsultDeclineForm(),
        "withdraw_form": EConsultWithdrawForm(),
        "time_form": EConsultTimeForm(initial={"work_date": today}, specialist=is_specialist),
        "panels": econsult_panels.render_panels(request, econsult),
        **(forms or {}),
    }
    return render(request, "visits/econsult_case.html", context, status=status)


@clinician_required
@phi_view
@require_GET
def case(request, econsult_id: int) -> HttpResponse:
    econsult = selectors.access_econsult(user=request.user, econsult_id=econsult_id)
    note_phi_access(request, econsult, patient=econsult.patient)
    econsult = services.econsult_answer_read(
        econsult=econsult, requester=request.user, request=request
    )
    return _case_page(request, econsult)


def _act(request, econsult_id: int, form, name: str, act) -> HttpResponse:
    """An action from the case page: the form checked, the service called, back to the case;
    a refusal is shown on the case page with a 400 and nothing written."""
    econsult = selectors.access_econsult(user=request.user, econsult_id=econsult_id)
    bound = form(request.POST)
    if bound.is_valid():
        try:
            act(econsult, bound.cleaned_data)
        except services.EConsultError as error:
            bound.add_error(None, error.message)
        else:
            return redirect("visits:econsult", econsult.pk)
    note_phi_access(request, econsult, patient=econsult.patient)
    return _case_page(request, econsult, forms={name: bound}, status=400)


@clinician_required
@phi_view
@require_POST
def ask(request, econsult_id: int) -> HttpResponse:
    return _act(
        request,
        econsult_id,
        EConsultAskForm,
        "ask_form",
        lambda econsult, data: services.econsult_ask(
            econsult=econsult, specialist=request.user, body=data["body"], request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def reply(request, econsult_id: int) -> HttpResponse:
    return _act(
        request,
        econsult_id,
        EConsultReplyForm,
        "reply_form",
        lambda econsult, data: services.econsult_reply(
            econsult=econsult, requester=request.user, body=data["body"], request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def answer(request, econsult_id: int) -> HttpResponse:
    return _act(
        request,
        econsult_id,
        EConsultAnswerForm,
        "answer_form",
        lambda econsult, data: services.econsult_answer(
            econsult=econsult, specialist=request.user, request=request, **data
        ),
    )


@clinician_required
@phi_view
@require_POST
def decline(request, econsult_id: int) -> HttpResponse:
    return _act(
        request,
        econsult_id,
        EConsultDeclineForm,
        "decline_form",
        lambda econsult, data: services.econsult_decline(
            econsult=econsult, specialist=request.user, reason=data["reason"], request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def withdraw(request, econsult_id: int) -> HttpResponse:
    return _act(
        request,
        econsult_id,
        EConsultWithdrawForm,
        "withdraw_form",
        lambda econsult, _data: services.econsult_withdraw(
            econsult=econsult, requester=request.user, request=request
        ),
    )


@clinician_required
@phi_view
@require_POST
def record_time(request, econsult_id: int) -> HttpResponse:
    econsult = selectors.access_econsult(user=request.user, econsult_id=econsult_id)
    is_specialist = econsult.specialist_id == request.user.pk
    return _act(
        request,
        econsult_id,
        lambda data: EConsultTimeForm(data, specialist=is_specialist),
        "time_form",
        lambda econsult, data: services.econsult_time_record(
            econsult=econsult, clinician=request.user, request=request, **data
        ),
    )


@clinician_required
@phi_view
@require_GET
def record_file(request, record_id: int) -> FileResponse:
    """One included file (a photo or a document) for the two clinicians; each read audited."""
    record = selectors.access_econsult_file(user=request.user, record_id=record_id)
    note_phi_access(request, record, patient=record.econsult.patient)
    response = FileResponse(
        record.file.open("rb"), content_type=record.content_type or "application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
