"""Pages of shared documents: the patient's list, the file (to view or download), staff
sharing from the chart, withdrawal, and the practice's education library (a leaflet shared
with many patients at once, items retired and put back). Thin: services write, selectors
read."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from documents import selectors, services
from documents.forms import CandidateFilterForm, LibraryForm, ShareForm, ShareManyForm
from documents.models import Kind, LibraryItem, SharedDocument
from telehealth.accounts import selectors as account_selectors
from telehealth.accounts.access import (
    patient_required,
    role_required,
    signed_in_required,
    staff_required,
)
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view


@patient_required
@phi_view
@require_GET
def mine(request):
    documents = list(selectors.my_documents(user=request.user))
    for document in documents:
        note_phi_access(request, document)
    return render(request, "documents/mine.html", {"documents": documents})


def _file_response(stored, *, name: str, content_type: str, download: bool) -> HttpResponse:
    # The storage decrypts the whole file into memory (uploads are size-capped), so it is
    # answered in one piece rather than streamed from a synchronous iterator under ASGI.
    with stored.open("rb") as opened:
        response = HttpResponse(opened.read(), content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(download, name) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    # Not through phi_view: the service writes this read's audit event (view or download).
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


def _serve(request, document_id: int, *, download: bool) -> HttpResponse:
    document = selectors.access_document(user=request.user, document_id=document_id)
    services.document_open(document=document, by=request.user, download=download, request=request)
    return _file_response(
        document.stored, name=document.file_name, content_type=document.file_type, download=download
    )


@signed_in_required
@require_GET
def view_file(request, document_id: int):
    return _serve(request, document_id, download=False)


@signed_in_required
@require_GET
def download(request, document_id: int):
    return _serve(request, document_id, download=True)


@staff_required
@require_http_methods(["GET", "POST"])
def share(request, patient_id: int):
    try:
        patient = account_selectors.access_patient(user=request.user, patient_id=patient_id)
    except account_selectors.BreakGlassRequired as needed:
        raise Http404 from needed
    if not selectors.kinds_shareable_by(request.user):
        raise PermissionDenied
    form = ShareForm(
        request.POST or None, request.FILES or None, user=request.user, patient=patient
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.document_share(
                    patient=patient,
                    by=request.user,
                    kind=data["kind"],
                    title=data["title"],
                    comment=data["comment"],
                    upload=data["file"],
                    library_item=data["library_item"],
                    appointment=data["appointment"],
                    request=request,
                )
            except services.DocumentError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                messages.success(
                    request, _("Shared. The patient is told that a document is ready for them.")
                )
                return redirect("accounts:patient-chart", patient_id=patient.pk)
    note_phi_access(request, patient)
    return render(
        request, "documents/share.html", {"form": form, "patient": patient}, status=status
    )


@staff_required
@require_POST
def withdraw(request, document_id: int):
    document = selectors.access_document(user=request.user, document_id=document_id)
    try:
        services.document_withdraw(document=document, by=request.user, request=request)
    except services.DocumentError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Withdrawn. The patient no longer sees this document."))
    return redirect("accounts:patient-chart", patient_id=document.patient_id)


@staff_required
@require_http_methods(["GET", "POST"])
def library(request):
    may_add = selectors.may_manage_library(request.user)
    form = LibraryForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if not may_add:
            raise PermissionDenied
        status = 400
        if form.is_valid():
            try:
                services.library_item_add(
                    by=request.user,
                    title=form.cleaned_data["title"],
                    upload=form.cleaned_data["file"],
                    request=request,
                )
            except services.DocumentError as error:
                form.add_error("file", error.message)
                status = error.status_code
            else:
                messages.success(request, _("Added to the library."))
                return redirect("documents:library")
    items = list(selectors.library_visible_to(request.user).select_related("added_by"))
    response = render(
        request,
        "documents/library.html",
        {
            "items": [item for item in items if not item.is_retired],
            "retired": [item for item in items if item.is_retired],
            "may_manage": may_add,
            "form": form if may_add else None,
        },
        status=status,
    )
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


FILTERS = ("q", "provider", "visit_type")


@staff_required
@phi_view
@require_http_methods(["GET", "POST"])
def library_share(request, item_id: int):
    """Share one library item with many patients: find them by name, provider or upcoming
    visit type, tick them, send. The filters ride along in the POST so an error shows the
    same list again."""
    item = selectors.access_library_item(user=request.user, item_id=item_id)
    if Kind.EDUCATION not in selectors.kinds_shareable_by(request.user):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    bound = any(source.get(name) for name in FILTERS)
    filters = CandidateFilterForm(source if bound else None, user=request.user)
    form = ShareManyForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = services.library_item_share_many(
                    item=item,
                    by=request.user,
                    patient_ids=form.cleaned_data["patients"],
                    comment=form.cleaned_data["comment"],
                    request=request,
                )
            except services.DocumentError as error:
                form.add_error(None, error.message)
                status = error.status_code
            else:
                messages.success(request, _bulk_summary(result))
                return redirect("documents:library")
    criteria = filters.cleaned_data if bound and filters.is_valid() else {}
    found = list(
        selectors.share_candidates(
            user=request.user,
            item=item,
            query=criteria.get("q", ""),
            provider=criteria.get("provider"),
            visit_type=criteria.get("visit_type"),
        )[: services.MAX_BULK_SHARE + 1]
    )
    candidates, more = found[: services.MAX_BULK_SHARE], len(found) > services.MAX_BULK_SHARE
    for patient in candidates:  # each one listed is in their accounting of disclosures
        note_phi_access(request, patient)
    if request.method == "POST":
        chosen = {str(pk) for pk in request.POST.getlist("patients")}
    elif bound and filters.narrows_to_a_group:
        # has_item: annotated by share_candidates
        chosen = {str(p.pk) for p in candidates if not p.has_item and p.user_id}  # type: ignore[attr-defined]
    else:
        chosen = set()
    return render(
        request,
        "documents/library_share.html",
        {
            "item": item,
            "filters": filters,
            "form": form,
            "candidates": candidates,
            "more": more,
            "chosen": chosen,
            "kept": [(name, source[name]) for name in FILTERS if source.get(name)],
            "limit": services.MAX_BULK_SHARE,
        },
        status=status,
    )


def _bulk_summary(result: services.BulkShare) -> str:
    shared = len(result.documents)
    parts = [
        ngettext("Shared with %(count)s patient.", "Shared with %(count)s patients.", shared)
        % {"count": shared}
    ]
    if result.already_had:
        parts.append(
            ngettext("%(count)s already had it.", "%(count)s already had it.", result.already_had)
            % {"count": result.already_had}
        )
    if result.without_portal:
        parts.append(
            ngettext(
                "%(count)s has no portal account yet: invite them first.",
                "%(count)s have no portal account yet: invite them first.",
                result.without_portal,
            )
            % {"count": result.without_portal}
        )
    return " ".join(parts)


@role_required(Role.CLINICIAN, Role.PRACTICE_ADMIN)
@require_POST
def library_retire(request, item_id: int):
    return _library_set_retired(request, item_id, retired=True)


@role_required(Role.CLINICIAN, Role.PRACTICE_ADMIN)
@require_POST
def library_restore(request, item_id: int):
    return _library_set_retired(request, item_id, retired=False)


def _library_set_retired(request, item_id: int, *, retired: bool):
    item = selectors.access_library_item(user=request.user, item_id=item_id)
    change = services.library_item_retire if retired else services.library_item_restore
    try:
        change(item=item, by=request.user, request=request)
    except services.DocumentForbidden as refused:
        raise PermissionDenied from refused
    except services.DocumentError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Retired. It is no longer offered for sharing; patients who have it keep it.")
            if retired
            else _("Put back. It can be shared again."),
        )
    return redirect("documents:library")


@staff_required
@require_GET
def library_file(request, item_id: int):
    item: LibraryItem = selectors.access_library_item(user=request.user, item_id=item_id)
    return _file_response(item.file, name=item.name, content_type=item.content_type, download=False)


# --- Panels other pages show ---------------------------------------------------------------


def chart_section(request, patient) -> str:
    """The chart's documents: what was shared, whether and when the patient first opened it
    (registered in apps.ready). Staff who may share nothing see no section."""
    user = request.user
    if not user.is_staff_role or not selectors.kinds_shareable_by(user):
        return ""
    documents: list[SharedDocument] = list(
        selectors.patient_documents(user=user, patient=patient)[:50]
    )
    for document in documents:
        note_phi_access(request, document)
    return render_to_string(
        "documents/_chart_section.html",
        {"documents": documents, "patient": patient},
        request=request,
    )


def home_section(request) -> str:
    """The patient's home: how many shared documents they have not opened yet."""
    if not request.user.is_patient:
        return ""
    unopened = selectors.unopened_count(user=request.user)
    if not unopened:
        return ""
    return render_to_string(
        "documents/_home_documents.html", {"unopened": unopened}, request=request
    )
