from datetime import timedelta

from django.utils import timezone

from feedback.models import Survey
from telehealth.accounts.models import Patient, Provider
from visits.models import Visit


def ended_visit(patient: Patient, *, ended_ago: timedelta = timedelta(hours=2), provider=None):
    """A video visit of the patient that took place and ended, written directly."""
    ended = timezone.now() - ended_ago
    provider = provider or Provider.objects.filter(practice=patient.practice).first()
    return Visit.objects.create(
        practice=patient.practice,
        patient=patient,
        provider=provider,
        state=Visit.State.ENDED,
        started_at=ended - timedelta(minutes=20),
        ended_at=ended,
    )


def survey_of(
    patient: Patient, *, satisfaction: int | None = None, ease: int | None = None, **fields
) -> Survey:
    visit = ended_visit(patient)
    answered = satisfaction is not None
    return Survey.objects.create(
        visit=visit,
        practice=patient.practice,
        patient=patient,
        provider=visit.provider,
        modality="video",
        satisfaction=satisfaction,
        ease=ease if ease is not None else satisfaction,
        answered_at=timezone.now() if answered else None,
        **fields,
    )
