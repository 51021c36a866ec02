"""The visits app's no-login link, registered with telehealth.links in `ready()`: the
after-visit summary's link opens the summary after a date-of-birth check. The join link is
scheduling's (`scheduling.links.JOIN`): it is sent with the appointment's messages."""

from datetime import timedelta

from django.db.models import QuerySet

from telehealth import links
from telehealth.accounts.models import Patient
from visits.models import Visit

SUMMARY = "visit-summary"


def _visits() -> QuerySet[Visit]:
    return Visit.objects.select_related("patient", "provider", "practice")


def _patient_of_visit(visit: Visit) -> Patient:
    return visit.patient


def register() -> None:
    links.register(
        links.LinkKind(
            name=SUMMARY,
            salt="visits.summary",
            max_age=timedelta(days=90),
            url_name="visits:summary-link",
            queryset=_visits,
            id_key="v",
            patient_of=_patient_of_visit,
        )
    )
