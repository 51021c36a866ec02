"""The visit room an EHR launch lands in (registered with telehealth.ehr.landing).

The visit is the launched patient's video or phone visit with the signed-in clinician: the one
the EHR's encounter names when it carries our visit or appointment id, else today's (in the
practice's time zone), the one under way or next, else the latest of the day."""

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.models import ACTIVE_STATUSES, REMOTE_MODALITIES
from scheduling.selectors import appointments_visible_to, day_bounds
from telehealth.accounts.models import Patient, User
from telehealth.ehr.landing import LandingRefused
from visits import selectors, services
from visits.models import Visit


def launch_room(
    *, clinician: User, patient: Patient, appointment_id: int | None, visit_id: int | None
) -> str | None:
    if visit_id is not None:
        visit = (
            selectors.visits_visible_to(clinician)
            .filter(pk=visit_id, patient=patient, provider__user=clinician)
            .first()
        )
        if visit is None:
            raise LandingRefused(
                _(
                    "The EHR's encounter names visit %(id)s, which is not this patient's visit "
                    "with you."
                )
                % {"id": visit_id}
            )
        return reverse("visits:room", args=[visit.pk])
    appointments = appointments_visible_to(clinician).filter(
        patient=patient,
        provider__user=clinician,
        modality__in=list(REMOTE_MODALITIES),
        status__in=ACTIVE_STATUSES,
    )
    if appointment_id is not None:
        appointment = appointments.filter(pk=appointment_id).first()
        if appointment is None:
            raise LandingRefused(
                _(
                    "The EHR's encounter names appointment %(id)s, which is not this patient's "
                    "upcoming video or phone visit with you."
                )
                % {"id": appointment_id}
            )
    else:
        now = timezone.now()
        zone = patient.practice.zone  # the clinician's practice: their appointments are in it
        start, end = day_bounds(timezone.localtime(now, zone).date(), zone)
        today = appointments.filter(start__gte=start, start__lt=end)
        appointment = (
            today.filter(end__gt=now)
            .exclude(visit__state=Visit.State.ENDED)
            .order_by("start")
            .first()
            or today.order_by("-start").first()
        )
        if appointment is None:
            return None
    visit = services.visit_for_appointment(appointment)
    return reverse("visits:room", args=[visit.pk])
