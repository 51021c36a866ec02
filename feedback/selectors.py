"""Reads of surveys: the patient's own, the practice admin's list, and the figures the
practice's dashboard shows (fixed query counts whatever the data)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from feedback.models import Survey
from telehealth.accounts.models import Role, User


def surveys_visible_to(user: User) -> QuerySet[Survey]:
    """A patient: their own surveys. A practice admin: the practice's. Nobody else."""
    surveys = Survey.objects.select_related("patient", "provider", "practice")
    if not user.is_authenticated:
        return surveys.none()
    if user.role == Role.PATIENT:
        return surveys.filter(patient__user=user)
    if user.role == Role.PRACTICE_ADMIN and user.practice_id is not None:
        return surveys.filter(practice_id=user.practice_id)
    return surveys.none()


def access_survey(*, user: User, survey_id: int) -> Survey:
    return get_object_or_404(surveys_visible_to(user), pk=survey_id)


def open_surveys(*, user: User) -> QuerySet[Survey]:
    """A patient's surveys still waiting for an answer (their home page lists them)."""
    if user.role != Role.PATIENT:
        return Survey.objects.none()
    return surveys_visible_to(user).filter(answered_at__isnull=True).order_by("-created_at")


def answered_surveys(*, user: User) -> QuerySet[Survey]:
    """The practice admin's list of answers, newest first."""
    if user.role != Role.PRACTICE_ADMIN:
        return Survey.objects.none()
    return surveys_visible_to(user).filter(answered_at__isnull=False).order_by("-answered_at")


@dataclass(frozen=True)
class SurveyFact:
    provider_id: int | None
    provider_name: str
    answered: bool
    satisfaction: int | None
    ease: int | None
    review_requested: bool


def survey_facts(
    *,
    user: User,
    start: datetime,
    end: datetime,
    provider_id: int | None = None,
    modality: str = "",
) -> list[SurveyFact]:
    """One row per survey of the admin's practice created in [start, end): scores only, never
    the comment or the patient. One query."""
    if user.role != Role.PRACTICE_ADMIN or user.practice_id is None:
        return []
    surveys = Survey.objects.filter(
        practice_id=user.practice_id, created_at__gte=start, created_at__lt=end
    )
    if provider_id is not None:
        surveys = surveys.filter(provider_id=provider_id)
    if modality:
        surveys = surveys.filter(modality=modality)
    rows = surveys.values_list(
        "provider_id",
        "provider__display_name",
        "answered_at",
        "satisfaction",
        "ease",
        "review_requested_at",
    )
    return [
        SurveyFact(pid, name or "", answered is not None, sat, ease, requested is not None)
        for pid, name, answered, sat, ease, requested in rows
    ]
