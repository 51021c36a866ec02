"""Billing's panel on the clinician's e-visit case page (registered in apps.ready): the online
visit codes the case's minutes reach, live, and its encounter once the pull has built it."""

from django.template.loader import render_to_string

from billing import evisit_services
from billing.selectors import encounters_for
from telehealth.accounts.models import Role


def evisit_case_panel(request, evisit) -> str:
    """visits' view has already let this user see the case; the encounter is read for them
    through billing's own door (a clinician sees the encounters they rendered)."""
    if request.user.role != Role.CLINICIAN or evisit.first_action_at is None:
        return ""
    assessment = evisit_services.assess_evisit(evisit)
    if assessment is None:
        return ""
    encounter = encounters_for(user=request.user).filter(evisit=evisit).first()
    return render_to_string(
        "billing/_evisit_panel.html",
        {"assessment": assessment, "encounter": encounter, "evisit": evisit},
        request=request,
    )
