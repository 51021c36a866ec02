"""Pages of intake: the patient's checklist and forms (portal login or the link from their
booking, after a date-of-birth check), insurance card, consent signing and signed PDFs; the
staff summary; the admins' form editor and preview."""

from typing import cast

from django.contrib import messages
from django.forms import ModelMultipleChoiceField
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from intake import canonical, editor, selectors, services
from intake import links as intake_links
from intake import questionnaire as fhirq
from intake import render as form_render
from intake.forms import FormSettingsForm, InsuranceForm, ItemFormSet, NewFormForm, SignForm
from intake.models import ConsentDocument, Form, Response, ResponseFile
from scheduling.models import ACTIVE_STATUSES, Appointment
from telehealth import links
from telehealth.accounts.access import practice_admin_required, staff_required
from telehealth.accounts.forms import DateOfBirthForm
from telehealth.accounts.models import Patient, Role
from telehealth.audit.phi import note_phi_access, phi_view

GRANT_KEY = "intake_patient"  # session: the patient id a link with a date-of-birth check opened


def _yes_no():
    return [("true", _("Yes")), ("false", _("No"))]


def _patient(request) -> Patient:
    """The patient filling forms: a signed-in patient, or the one a checked link opened."""
    user = request.user
    if user.is_authenticated:
        if user.role != Role.PATIENT:
            raise Http404
        patient = getattr(user, "patient", None)
        if patient is None:
            raise Http404
        return patient
    patient_id = request.session.get(GRANT_KEY)
    if not patient_id:
        raise Http404
    return get_object_or_404(Patient.objects.select_related("practice"), pk=patient_id)


@phi_view
@require_http_methods(["GET", "POST"])
def link(request, token: str):
    try:
        patient = links.read(intake_links.INTAKE, token)
    except links.LinkError as error:
        return render(
            request, "scheduling/link_problem.html", {"problem": error.message}, status=410
        )
    if request.user.is_authenticated and getattr(request.user, "patient", None) == patient:
        return redirect("intake:mine")
    form = DateOfBirthForm(request.POST or None)
    typed = (
        form.cleaned_data["date_of_birth"] if request.method == "POST" and form.is_valid() else None
    )
    outcome = links.date_of_birth_check(kind=intake_links.INTAKE, obj=patient, date_of_birth=typed)
    if outcome == links.DateOfBirth.LOCKED:
        return render(request, "intake/link.html", {"locked": True, "patient": patient}, status=429)
    if outcome == links.DateOfBirth.RIGHT:
        request.session.cycle_key()
        request.session[GRANT_KEY] = patient.pk
        return redirect("intake:mine")
    if outcome == links.DateOfBirth.WRONG:
        form.add_error("date_of_birth", _("That date of birth does not match our records."))
    return render(
        request,
        "intake/link.html",
        {"form": form, "patient": patient},
        status=400 if form.errors else 200,
    )


@phi_view
def mine(request):
    patient = _patient(request)
    note_phi_access(request, patient)
    return render(
        request, "intake/mine.html", {"patient": patient, "checklist": selectors.checklist(patient)}
    )


@phi_view
@require_http_methods(["GET", "POST"])
def fill(request, form_id: int):
    patient = _patient(request)
    form = get_object_or_404(Form, pk=form_id, practice_id=patient.practice_id, is_active=True)
    response = services.response_for(patient=patient, form=form)
    if response.status == Response.Status.COMPLETED:
        if request.method == "POST":  # sent twice, or from an old tab: the first one stands
            return redirect("intake:mine")
        note_phi_access(request, response)
        return render(
            request,
            "intake/done.html",
            {"form": form, "response": response, "rows": selectors.readable(response)},
        )
    definition = response.form_version.questionnaire
    errors: dict[str, str] = {}
    stored = response.answers or {}
    if request.method == "POST":
        raw = form_render.posted(definition, request.POST)
        complete = request.POST.get("action") == "submit"
        for item in fhirq.questions(definition):
            link = item["linkId"]
            if item["type"] != "attachment":
                continue
            upload = request.FILES.get(link)
            if upload is not None:
                try:
                    raw[link] = [
                        services.response_attach(response=response, link_id=link, upload=upload)
                    ]
                except services.IntakeError as error:
                    errors[link] = error.message
            elif stored.get(link):
                raw[link] = stored[link]  # the file sent earlier stays
        try:
            if errors:
                raise fhirq.AnswerErrors(errors)
            services.response_save(response=response, raw=raw, complete=complete, request=request)
        except fhirq.AnswerErrors as problems:
            errors = {**problems.errors, **errors}
            stored = raw
        except services.IntakeError as error:
            errors = {"": error.message}
            stored = raw
        else:
            if complete:
                messages.success(request, _("Thank you. %(form)s is done.") % {"form": form.title})
            else:
                messages.success(request, _("Saved. You can finish later from the same link."))
            return redirect("intake:mine")
    note_phi_access(request, response)
    return render(
        request,
        "intake/fill.html",
        {
            "form": form,
            "rows": form_render.rows(
                definition, stored, errors, files={f"file:{f.pk}": f for f in response.files.all()}
            ),
            "errors": errors,
            "problem": errors.get("", ""),
            "preview": False,
            "yes_no_choices": _yes_no(),
        },
        status=400 if errors else 200,
    )


@phi_view
@require_http_methods(["GET", "POST"])
def insurance(request):
    patient = _patient(request)
    form = InsuranceForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.insurance_card_save(
                patient=patient,
                data={**form.cleaned_data, **form.subscriber_details()},
                front=form.cleaned_data["front"],
                back=form.cleaned_data.get("back"),
                request=request,
            )
        except services.IntakeError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Insurance card saved."))
            return redirect("intake:mine")
    return render(
        request,
        "intake/insurance.html",
        {"form": form, "patient": patient},
        status=400 if form.errors else 200,
    )


@phi_view
@require_http_methods(["GET", "POST"])
def consent(request, document_id: int):
    patient = _patient(request)
    document = get_object_or_404(ConsentDocument, pk=document_id, practice_id=patient.practice_id)
    version = document.current
    if version is None:
        raise Http404
    form = SignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_sign(
                patient=patient,
                consent=version,
                signer_name=form.cleaned_data["signer_name"],
                drawing=form.cleaned_data["drawing"],
                request=request,
            )
        except services.IntakeError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Signed. You can download a copy from your forms page."))
            return redirect("intake:mine")
    return render(
        request,
        "intake/consent.html",
        {"document": document, "version": version, "form": form},
        status=400 if form.errors else 200,
    )


def _download(request, field, name: str, content_type: str):
    response = FileResponse(field.open("rb"), content_type=content_type, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@phi_view
def signature_pdf(request, signature_id: int):
    if request.user.is_authenticated:
        signatures = selectors.signatures_visible_to(request.user)
    else:
        signatures = selectors.Signature.objects.filter(patient_id=_patient(request).pk)
    signature = get_object_or_404(signatures.select_related("consent__document"), pk=signature_id)
    note_phi_access(request, signature, patient=signature.patient)
    return _download(
        request, signature.pdf, f"{signature.consent.document.slug}-signed.pdf", "application/pdf"
    )


@phi_view
def response_file(request, file_id: int):
    """A file a patient attached to a form: for them, and for staff who may see them."""
    if request.user.is_authenticated and request.user.is_staff_role:
        found = get_object_or_404(selectors.response_files_visible_to(request.user), pk=file_id)
    else:
        found = get_object_or_404(
            ResponseFile.objects.filter(response__patient=_patient(request)), pk=file_id
        )
    note_phi_access(request, found.response, patient=found.response.patient)
    return _download(request, found.file, found.name, found.content_type)


@staff_required
@phi_view
def card_image(request, card_id: int, side: str):
    card = get_object_or_404(selectors.cards_visible_to(request.user), pk=card_id)
    field, kind = (card.front, card.front_type) if side == "front" else (card.back, card.back_type)
    if side not in ("front", "back") or not field:
        raise Http404
    note_phi_access(request, card)
    return _download(request, field, f"card-{side}", kind)


@staff_required
@phi_view
def patient_summary(request, patient_id: int):
    patient = selectors.access_patient_intake(user=request.user, patient_id=patient_id)
    note_phi_access(request, patient)
    return render(
        request,
        "intake/summary.html",
        {
            "patient": patient,
            "checklist": selectors.checklist(patient),
            "answered": selectors.summary(user=request.user, patient=patient),
            "signatures": selectors.signatures_visible_to(request.user)
            .filter(patient=patient)
            .select_related("consent__document"),
        },
    )


def chart_section(request, patient) -> str:
    """The chart's intake panel (registered in apps.ready)."""
    if not request.user.is_staff_role:
        return ""
    return render_to_string(
        "intake/_chart_section.html",
        {"patient": patient, "checklist": selectors.checklist(patient)},
        request=request,
    )


def confirmation_section(request: HttpRequest, appointment: Appointment) -> str:
    """The appointment page's list of forms and consents still waiting, with the no-login link
    the patient fills them in by (registered in apps.ready)."""
    if appointment.status not in ACTIVE_STATUSES:
        return ""
    checklist = selectors.checklist(appointment.patient)
    forms = [form.title for form, response in checklist.forms if not _completed(response)]
    consents = [document.title for document, signature in checklist.consents if not signature]
    if not forms and not consents:
        return ""
    token = links.token_for(intake_links.INTAKE, appointment.patient)
    return render_to_string(
        "intake/_confirmation_section.html",
        {"waiting": forms + consents, "link": reverse("intake:link", args=[token])},
        request=request,
    )


def _completed(response: Response | None) -> bool:
    return response is not None and response.status == Response.Status.COMPLETED


# --- The form editor (practice admins) ------------------------------------------------------


@practice_admin_required
def manage(request):
    if not selectors.manageable_forms(request.user).exists():
        services.install_builtin(request.user.practice)
    return render(
        request,
        "intake/manage.html",
        {
            "forms": selectors.manageable_forms(request.user).prefetch_related(
                "appointment_types", "versions"
            ),
            "new_form": NewFormForm(),
        },
    )


@practice_admin_required
@require_http_methods(["POST"])
def create_form(request):
    new = NewFormForm(request.POST)
    if not new.is_valid():
        messages.error(request, _("Give the form a title."))
        return redirect("intake:manage")
    form = services.form_create(practice=request.user.practice, title=new.cleaned_data["title"])
    return redirect("intake:edit", form_id=form.pk)


@practice_admin_required
@require_http_methods(["GET", "POST"])
def edit(request, form_id: int):
    form = get_object_or_404(selectors.manageable_forms(request.user), pk=form_id)
    current = form.current
    definition = current.questionnaire if current else {"item": []}
    scored = fhirq.scale_of(definition) is not None
    settings = FormSettingsForm(
        request.POST or None,
        practice_id=request.user.practice_id,
        initial={"appointment_types": form.appointment_types.all(), "is_active": form.is_active},
    )
    problem = ""
    if request.method == "POST":
        formset = ItemFormSet(request.POST, prefix="items")
        items_valid = scored or formset.is_valid()
        if settings.is_valid() and items_valid:
            try:
                version = services.form_update(
                    form=form,
                    appointment_types=settings.cleaned_data["appointment_types"],
                    is_active=settings.cleaned_data["is_active"],
                    definition=None
                    if scored
                    else _definition_from(request, form, formset, definition),
                    by=request.user,
                )
            except fhirq.QuestionnaireError as error:
                problem = str(error)
            else:
                if version is None:
                    messages.success(request, _("Saved."))
                else:
                    messages.success(request, _("Saved as version %(n)s.") % {"n": version.version})
                return redirect("intake:edit", form_id=form.pk)
    else:
        formset = ItemFormSet(initial=editor.to_rows(definition), prefix="items")
    return render(
        request,
        "intake/edit.html",
        {
            "form": form,
            "formset": formset,
            "scored": scored,
            "settings": settings,
            "types": cast(ModelMultipleChoiceField, settings.fields["appointment_types"]).queryset,
            "attached": settings.chosen_type_ids(),
            "active": settings["is_active"].value(),
            "problem": problem,
            "version": current,
        },
        status=400 if request.method == "POST" else 200,
    )


def _definition_from(request, form: Form, formset, previous: dict) -> dict:
    """The Questionnaire the editor's rows describe (validated when saved)."""
    rows = [
        f.cleaned_data
        for f in formset.ordered_forms
        if f.cleaned_data and not f.cleaned_data.get("DELETE")
    ]
    return editor.from_rows(
        title=request.POST.get("title", form.title).strip() or form.title,
        url=canonical.questionnaire_url(form.practice.slug, form.slug),
        rows=rows,
        code_system=canonical.code_system_url(form.practice.slug, form.slug),
        previous=previous,
    )


@practice_admin_required
def preview(request, form_id: int):
    form = get_object_or_404(selectors.manageable_forms(request.user), pk=form_id)
    if form.current is None:
        raise Http404
    return render(
        request,
        "intake/fill.html",
        {
            "form": form,
            "rows": form_render.rows(form.current.questionnaire, {}, {}),
            "errors": {},
            "preview": True,
            "yes_no_choices": _yes_no(),
        },
    )
