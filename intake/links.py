"""Intake's no-login link, registered with telehealth.links in `ready()`: the link in the
forms request opens the patient's checklist after a date-of-birth check."""

from datetime import timedelta

from django.db.models import QuerySet

from telehealth import links
from telehealth.accounts.models import Patient

INTAKE = "intake"


def _patients() -> QuerySet[Patient]:
    return Patient.objects.select_related("practice")


def _itself(patient: Patient) -> Patient:
    return patient


def register() -> None:
    links.register(
        links.LinkKind(
            name=INTAKE,
            salt="intake.link",
            max_age=timedelta(days=30),
            url_name="intake:link",
            queryset=_patients,
            id_key="p",
            patient_of=_itself,
        )
    )
