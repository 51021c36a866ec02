"""The survey's no-login link: it opens that one survey, for 14 days, until answered."""

from datetime import timedelta

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from feedback.models import Survey
from telehealth import links

SURVEY = "feedback-survey"
LIFETIME = timedelta(days=14)


def _surveys() -> QuerySet[Survey]:
    return Survey.objects.select_related("practice", "patient")


def _answered(survey: Survey) -> str | None:
    if survey.answered_at is not None:
        return _("This survey has already been answered. Thank you!")
    return None


def register() -> None:
    links.register(
        links.LinkKind(
            name=SURVEY,
            salt="feedback.survey",
            max_age=LIFETIME,
            url_name="feedback:survey-link",
            queryset=_surveys,
            id_key="s",
            check=_answered,
        )
    )
