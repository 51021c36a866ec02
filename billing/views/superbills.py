"""Pages of billing: superbills. The PDF of a signed encounter, for the patient it belongs to
and the practice's staff who may read the encounter, and the patient's list of theirs."""

from django.http import HttpResponse
from django.shortcuts import render

from billing import selectors
from billing.superbill import superbill_filename, superbill_for, superbill_pdf
from telehealth.accounts.access import patient_required, signed_in_required
from telehealth.audit.phi import note_phi_access, phi_view


@signed_in_required
@phi_view
def superbill(request, encounter_id: int):
    encounter = selectors.access_superbill(user=request.user, encounter_id=encounter_id)
    note_phi_access(request, encounter, patient=encounter.patient)
    response = HttpResponse(superbill_pdf(superbill_for(encounter)), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{superbill_filename(encounter)}"'
    return response


@patient_required
@phi_view
def my_superbills(request):
    superbills = selectors.my_superbills(user=request.user)
    note_phi_access(request, patient=getattr(request.user, "patient", None))
    return render(request, "billing/my_superbills.html", {"superbills": superbills})
