"""Pages of billing: claims. The front desk and practice admins see the signed encounters not
yet exported (those that can go, with a box to choose them, and those that cannot, with every
reason), export the chosen ones as one 837P batch, and download past batches."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from billing import claims as services
from billing import selectors
from billing.x12 import validate
from telehealth.accounts.access import role_required
from telehealth.accounts.models import Role
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.audit.phi import note_phi_access, phi_view

billing_staff = role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)


def _page(request, *, errors: list[str] | None = None, status: int = 200):
    candidates = services.claims_ready(practice=request.user.practice)
    for candidate in candidates:
        note_phi_access(request, candidate.encounter, patient=candidate.encounter.patient)
    batches = selectors.claim_batches_for(user=request.user).select_related("created_by")[:50]
    return render(
        request,
        "billing/claims.html",
        {
            "ready": [c for c in candidates if c.ready],
            "refused": [c for c in candidates if not c.ready],
            "batches": batches,
            "errors": errors or [],
        },
        status=status,
    )


@billing_staff
@phi_view
@require_GET
def claims(request):
    return _page(request)


@billing_staff
@phi_view
@require_POST
def export(request):
    try:
        ids = [int(value) for value in request.POST.getlist("encounter")]
    except ValueError:
        return _page(request, errors=[_("The encounters chosen are not valid.")], status=400)
    try:
        result = services.claim_batch_export(
            practice=request.user.practice, encounter_ids=ids, by=request.user
        )
    except services.ClaimExportError as refused:
        return _page(request, errors=refused.errors, status=400)
    if result.batch is None:
        errors = [
            _("Encounter #%(id)s: %(reasons)s")
            % {"id": c.encounter.pk, "reasons": " ".join(c.reasons)}
            for c in result.refused
        ]
        return _page(request, errors=[_("Nothing was exported."), *errors], status=400)
    messages.success(
        request,
        ngettext(
            "Batch %(number)09d: %(count)s claim exported.",
            "Batch %(number)09d: %(count)s claims exported.",
            len(result.sent),
        )
        % {"number": result.batch.control_number, "count": len(result.sent)},
    )
    if result.refused:
        messages.warning(
            request,
            ngettext(
                "%(count)s encounter was not sent; its reasons are listed below.",
                "%(count)s encounters were not sent; their reasons are listed below.",
                len(result.refused),
            )
            % {"count": len(result.refused)},
        )
    return redirect("billing:claims")


@billing_staff
@phi_view
@require_GET
def download(request, batch_id: int):
    batch = selectors.access_claim_batch(user=request.user, batch_id=batch_id)
    note_phi_access(request, batch)
    # The file leaves as it was validated when exported; it is checked again so a file that
    # was altered at rest, or a validator that learnt more, never reaches the clearinghouse.
    errors = validate(batch.content)
    if errors:
        return HttpResponse(
            _("This batch does not pass the X12 validator: %(errors)s")
            % {"errors": "; ".join(str(error) for error in errors[:5])},
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    detail = f"837P batch {batch.control_number} downloaded"
    # The file names its patients: each one's record shows the claim leaving the practice.
    encounters = batch.encounters.order_by("pk")
    audit.record_many(
        action=Action.EXPORT,
        actor=request.user,
        objects=[(batch, None), *((e, e.patient_id) for e in encounters)],
        request=request,
        detail=detail,
    )
    response = HttpResponse(batch.content, content_type="text/plain; charset=us-ascii")
    response["Content-Disposition"] = f'attachment; filename="837P-{batch.control_number:09d}.txt"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
