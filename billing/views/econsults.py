"""Billing's panel on the e-consult case page (registered in apps.ready): the codes the reader's
side of the case reaches, live, and that side's encounter once the pull has built it."""

from django.template.loader import render_to_string

from billing import econsult_services
from billing.consults import Side
from billing.selectors import encounters_for
from telehealth.accounts.models import Role
from visits.models import EConsult

CLOSED_UNANSWERED = (EConsult.State.DECLINED, EConsult.State.WITHDRAWN)  # never billed


def econsult_case_panel(request, econsult) -> str:
    """visits' view has already let this user see the case (they are its requester or its
    specialist); each sees their own side's codes, and the encounter is read for them through
    billing's own door (a clinician sees the encounters they rendered)."""
    user = request.user
    if user.role != Role.CLINICIAN or econsult.state in CLOSED_UNANSWERED:
        return ""
    if user.pk == econsult.specialist_id:
        side = Side.SPECIALIST
    elif user.pk == econsult.requester_id:
        side = Side.REQUESTER
    else:
        return ""
    assessment = econsult_services.assess_econsult(econsult, side)
    if assessment is None:
        return ""
    encounter = (
        encounters_for(user=user)
        .filter(econsult=econsult, source=econsult_services.econsult_source(econsult, side))
        .first()
    )
    return render_to_string(
        "billing/_econsult_panel.html",
        {
            "assessment": assessment,
            "encounter": encounter,
            "econsult": econsult,
            "specialist": side == Side.SPECIALIST,
        },
        request=request,
    )
