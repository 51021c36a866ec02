"""Pages of billing: remittances. The front desk and practice admins import the payer's 835
files, read what each payment did to our claims, and work the lines denied or cut."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing import selectors
from billing.models import ClaimLine
from billing.remittances import (
    RemittanceImportError,
    line_is_denied,
    remittance_import,
    unmatched_reason,
)
from billing.x12.codes import carc_description, group_description, rarc_description
from billing.x12.remittance import CLAIM_STATUSES
from telehealth.accounts.access import role_required
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view

billing_office = role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
MAX_FILE_BYTES = 5 * 1024 * 1024  # an 835 of a few thousand claims is well under this
# The denials page shows the newest lines to work, not every line ever cut: a practice's
# lines with a contractual adjustment grow by thousands a month.
DENIALS_SHOWN = 200


class RemittanceUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("835 remittance file"),
        help_text=gettext_lazy("The ERA file from the payer or clearinghouse, one payment."),
        widget=forms.ClearableFileInput(attrs={"accept": ".835,.txt,.edi,.x12,text/plain"}),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(
                _("The file is not a text file; an 835 is plain text.")
            ) from error


@billing_office
def remittance_list(request, form=None, status=200):
    remittances = selectors.remittances_for(user=request.user).select_related("imported_by")
    return render(
        request,
        "billing/remittances.html",
        {"remittances": remittances[:100], "form": form or RemittanceUploadForm()},
        status=status,
    )


@billing_office
@require_POST
def remittance_import_view(request):
    form = RemittanceUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = remittance_import(
                practice=request.user.practice, content=form.cleaned_data["file"], by=request.user
            )
        except RemittanceImportError as error:
            form.add_error("file", str(error))
        else:
            messages.success(
                request,
                _(
                    "Payment imported. Claims matched: %(matched)s. Not matched: "
                    "%(unmatched)s. Lines denied: %(denied)s."
                )
                % {
                    "matched": result.matched,
                    "unmatched": result.unmatched,
                    "denied": result.denied_lines,
                },
            )
            return redirect("billing:remittance", remittance_id=result.remittance.pk)
    return remittance_list(request, form=form, status=400)


@billing_office
@phi_view
def remittance_detail(request, remittance_id: int):
    remittance = selectors.access_remittance(user=request.user, remittance_id=remittance_id)
    note_phi_access(request, remittance)
    encounters = {
        encounter.pk: encounter
        for encounter in remittance.encounters.select_related("patient").prefetch_related("lines")
    }
    claims = []
    for record in remittance.claims:
        encounter = encounters.get(record["encounter"])
        if encounter is not None:
            note_phi_access(request, encounter)
        claims.append(
            {
                **record,
                "status_words": CLAIM_STATUSES.get(record["status"], record["status"]),
                "encounter": encounter,
                "encounter_url": _encounter_url(record["encounter"]),
                "adjustments": [_adjustment_words(a) for a in record["adjustments"]],
                "remarks": [_remark_words(code) for code in record["remarks"]],
                "lines": [_line_result(line) for line in encounter.lines.all()]
                if encounter is not None
                else [],
            }
        )
    unmatched = [
        {**entry, "reason_words": unmatched_reason(entry)} for entry in remittance.unmatched
    ]
    return render(
        request,
        "billing/remittance.html",
        {"remittance": remittance, "claims": claims, "unmatched": unmatched},
    )


@billing_office
@phi_view
def denials(request):
    lines = selectors.lines_to_work_for(user=request.user, limit=DENIALS_SHOWN + 1)
    more = len(lines) > DENIALS_SHOWN
    lines = lines[:DENIALS_SHOWN]
    # One read per encounter shown, however many of its lines are listed.
    for encounter in {line.encounter_id: line.encounter for line in lines}.values():
        note_phi_access(request, encounter)
    rows = [
        {
            **_line_result(line),
            "encounter": line.encounter,
            "encounter_url": _encounter_url(line.encounter_id),
        }
        for line in lines
    ]
    return render(
        request, "billing/denials.html", {"rows": rows, "more": more, "shown": DENIALS_SHOWN}
    )


def _encounter_url(encounter_id: int | None) -> str:
    """The encounter's review page; none for a claim that matched no encounter."""
    if encounter_id is None:
        return ""
    return reverse("billing:encounter", kwargs={"encounter_id": encounter_id})


def _line_result(line: ClaimLine) -> dict:
    denied = line.paid is not None and line_is_denied(paid=line.paid, adjustments=line.adjustments)
    if line.paid is None:
        outcome = _("No answer")
    elif denied:
        outcome = _("Denied")
    elif line.paid < line.charge:
        outcome = _("Paid in part")
    else:
        outcome = _("Paid")
    return {
        "line": line,
        "outcome": outcome,
        "denied": denied,
        "short": line.paid is not None and line.paid < line.charge,
        "unpaid": (line.charge - line.paid) if line.paid is not None else None,
        "modifiers": " ".join(line.modifiers),
        "adjustments": [_adjustment_words(a) for a in line.adjustments],
        "remarks": [_remark_words(code) for code in line.remarks],
    }


def _adjustment_words(adjustment: dict) -> dict:
    return {
        "group": adjustment["group"],
        "group_words": group_description(adjustment["group"]),
        "reason": adjustment["reason"],
        "reason_words": carc_description(adjustment["reason"]),
        "amount": Decimal(adjustment["amount"]),
    }


def _remark_words(code: str) -> dict:
    return {"code": code, "words": rarc_description(code)}
