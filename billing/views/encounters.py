"""Pages of billing: encounters. The worklist by status, the review page (facts, problems, the
suggestion with its reasons, diagnoses with an ICD-10-CM search, the lines editor, time or
decision making, signing and the amendments), and one POST per review service.

A POST that is refused answers 400 with the review page and the reason; nothing is written,
since each service is one transaction that raises before it commits."""

import re
from datetime import date

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from billing import diagnoses, review, selectors
from billing.coding import MDM_WORDS, Basis
from billing.models import MAX_DIAGNOSES, Encounter
from billing.rules.records import Mdm
from billing.suggestions import MAX_MODIFIERS
from telehealth.accounts.access import role_required
from telehealth.accounts.models import STAFF_ROLES, Role
from telehealth.audit.phi import note_phi_access, phi_view

staff = role_required(*STAFF_ROLES)
coders = role_required(Role.CLINICIAN, Role.PRACTICE_ADMIN)
signers = role_required(Role.CLINICIAN)
PAGE_SIZE = 25
MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
# ASCII digits only: str.isdigit() passes "²", which int() refuses.
WHOLE = re.compile(r"[0-9]{1,9}")
NEW_LINE = "new"


@staff
@phi_view
def worklist(request) -> HttpResponse:
    errors: list[str] = []
    providers = selectors.providers_for(user=request.user)
    provider_id = _provider_filter(request.GET.get("provider", ""), providers, errors)
    month_text = request.GET.get("month", "").strip()
    month = _month_filter(month_text, errors)
    status = request.GET.get("status", "")
    if status and status not in Encounter.Status.values:
        errors.append(_("Choose one of the statuses listed."))
        status = ""
    encounters = selectors.worklist(user=request.user, provider_id=provider_id, month=month)
    counts = selectors.status_counts(encounters)
    if status:
        encounters = encounters.filter(status=status)
    page = Paginator(selectors.with_totals(encounters), PAGE_SIZE).get_page(request.GET.get("page"))
    for encounter in page:
        note_phi_access(request, encounter, patient=encounter.patient)
    for error in errors:
        messages.error(request, error)
    return render(
        request,
        "billing/worklist.html",
        {
            "page": page,
            "tabs": [(value, label, counts[value]) for value, label in Encounter.Status.choices],
            "all_count": sum(counts.values()),
            "status": status,
            "providers": providers if request.user.role != Role.CLINICIAN else None,
            "provider_id": provider_id,
            "month": month_text if month else "",
            "filters": _query(provider_id=provider_id, month=month_text if month else ""),
        },
        status=400 if errors else 200,
    )


@staff
@phi_view
def encounter(request, encounter_id: int, *, status: int = 200) -> HttpResponse:
    item = selectors.encounter_for_review(user=request.user, encounter_id=encounter_id)
    note_phi_access(request, item, patient=item.patient)
    query = request.GET.get("q", "").strip()
    return render(
        request, "billing/encounter.html", _review_context(request, item, query), status=status
    )


@coders
@require_GET
def diagnosis_search(request) -> HttpResponse:
    """ICD-10-CM codes by code or words, as a fragment the review page swaps in (htmx); the
    page shows the same list itself when script is off. Reads the public code set only."""
    query = request.GET.get("q", "").strip()[:100]
    return render(
        request,
        "billing/_diagnosis_results.html",
        {"query": query, "results": diagnoses.search(query) if query else ()},
    )


@coders
@require_POST
def diagnoses_save(request, encounter_id: int) -> HttpResponse:
    item = selectors.access_encounter(user=request.user, encounter_id=encounter_id)
    codes = request.POST.getlist("code")
    remove = request.POST.get("remove", "")
    if WHOLE.fullmatch(remove) and 1 <= int(remove) <= len(codes):
        codes[int(remove) - 1] = ""
    codes = [code for code in codes if code.strip()]
    if request.POST.get("add", "").strip():
        codes.append(request.POST["add"])
    return _apply(
        request,
        item,
        lambda: review.diagnoses_set(
            encounter=item, by=request.user, codes=codes, reason=_reason(request)
        ),
        _("Diagnoses saved."),
    )


@coders
@require_POST
def lines_save(request, encounter_id: int) -> HttpResponse:
    item = selectors.access_encounter(user=request.user, encounter_id=encounter_id)
    try:
        lines = _lines_from(request)
    except review.ReviewError as error:
        return _refused(request, item, error.message)
    return _apply(
        request,
        item,
        lambda: review.lines_set(
            encounter=item, by=request.user, lines=lines, reason=_reason(request)
        ),
        _("Lines saved."),
    )


@coders
@require_POST
def basis_save(request, encounter_id: int) -> HttpResponse:
    item = selectors.access_encounter(user=request.user, encounter_id=encounter_id)
    basis_text = request.POST.get("basis", "")
    mdm_text = request.POST.get("mdm", "")
    if basis_text not in {b.value for b in Basis} or mdm_text not in {"", *(m.value for m in Mdm)}:
        return _refused(
            request, item, _("Choose time or decision making, and a level from the list.")
        )
    basis = Basis(basis_text)
    mdm = Mdm(mdm_text) if mdm_text else None
    return _apply(
        request,
        item,
        lambda: review.basis_set(
            encounter=item, by=request.user, basis=basis, mdm=mdm, reason=_reason(request)
        ),
        _("The lines were suggested again."),
    )


@signers
@require_POST
def sign(request, encounter_id: int) -> HttpResponse:
    item = selectors.access_encounter(user=request.user, encounter_id=encounter_id)
    acknowledged = request.POST.getlist("acknowledged")
    return _apply(
        request,
        item,
        lambda: review.sign(
            encounter=item,
            by=request.user,
            acknowledged=acknowledged,
            seen=request.POST.get("seen", ""),
        ),
        _("Encounter signed."),
    )


# --- helpers -------------------------------------------------------------------------------


def _apply(request, item: Encounter, change, done: str) -> HttpResponse:
    try:
        change()
    except review.ReviewError as error:
        return _refused(request, item, error.message)
    messages.success(request, done)
    return redirect("billing:encounter", encounter_id=item.pk)


def _refused(request, item: Encounter, message: str) -> HttpResponse:
    messages.error(request, message)
    return encounter(request, encounter_id=item.pk, status=400)


def _reason(request) -> str:
    return request.POST.get("reason", "").strip()[:500]


def _lines_from(request) -> list[review.LineInput]:
    """The lines editor's rows, in order: `line` names each row (its position, or "new"), and
    the row's fields carry that name as a prefix. Ticked "remove" rows and an empty new row
    are left out."""
    lines = []
    for key in request.POST.getlist("line"):
        if not (WHOLE.fullmatch(key) or key == NEW_LINE):
            raise review.ReviewError(_("The lines form was not understood; reload the page."))

        def field(name: str, key: str = key) -> str:
            return request.POST.get(f"{key}-{name}", "").strip()

        if field("remove"):
            continue
        code = field("code").upper()
        if key == NEW_LINE and not code:
            continue
        units_text = field("units") or "1"
        if not WHOLE.fullmatch(units_text):
            raise review.ReviewError(
                _("Units are a whole number, such as 1; %(value)s is not.") % {"value": units_text}
            )
        modifiers = review.parse_modifiers(field("modifiers"))
        if len(modifiers) > MAX_MODIFIERS:
            raise review.ReviewError(_("At most four modifiers on a line."))
        lines.append(
            review.LineInput(
                code=code,
                modifiers=modifiers,
                place_of_service=field("place_of_service"),
                units=int(units_text),
                diagnosis_pointers=review.parse_pointers(field("pointers")),
            )
        )
    return lines


def _review_context(request, item: Encounter, query: str) -> dict:
    user = request.user
    editable = review.may_edit(user=user, encounter=item) and not review.is_sent(item)
    signed = review.is_signed(item)
    diagnoses_list = list(item.diagnoses.all())
    return {
        "encounter": item,
        "diagnoses": diagnoses_list,
        "diagnosis_slots": range(len(diagnoses_list) + 1, MAX_DIAGNOSES + 1)[:2],
        "lines": list(item.lines.all()),
        "total": sum((line.charge for line in item.lines.all()), start=0),
        "amendments": list(item.amendments.all()),
        "editable": editable,
        "needs_reason": signed,
        "signable": review.may_sign(user=user, encounter=item)
        and item.status
        in (Encounter.Status.DRAFT, Encounter.Status.NEEDS_REVIEW, Encounter.Status.READY),
        "sent": review.is_sent(item),
        "version": review.version(item),
        "may_read_note": user.role == Role.CLINICIAN and item.visit_id is not None,
        "may_open_case": user.role == Role.CLINICIAN and item.evisit_id is not None,
        "may_open_econsult": user.role == Role.CLINICIAN and item.econsult_id is not None,
        "query": query,
        "results": diagnoses.search(query) if query and editable else (),
        "mdm_choices": [(level.value, MDM_WORDS[level]) for level in Mdm],
        "max_diagnoses": MAX_DIAGNOSES,
        "code_set": diagnoses.CODE_SET,
    }


def _provider_filter(text: str, providers, errors: list[str]) -> int | None:
    if not text:
        return None
    if WHOLE.fullmatch(text) and providers.filter(pk=int(text)).exists():
        return int(text)
    errors.append(_("Choose a provider from the list."))
    return None


def _month_filter(text: str, errors: list[str]) -> date | None:
    if not text:
        return None
    match = MONTH.match(text)
    if match and 1 <= int(match[2]) <= 12 and int(match[1]) >= 2000:
        return date(int(match[1]), int(match[2]), 1)
    errors.append(_("Give the month as YYYY-MM, such as 2026-03."))
    return None


def _query(*, provider_id: int | None, month: str) -> str:
    parts = []
    if provider_id is not None:
        parts.append(f"provider={provider_id}")
    if month:
        parts.append(f"month={month}")
    return "&".join(parts)
