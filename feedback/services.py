"""Surveys after video visits, their answers, and review requests."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from feedback import messages
from feedback.models import FeedbackSettings, Survey
from telehealth.accounts.models import Patient, Practice, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from visits import selectors as visit_selectors

SURVEY_DELAY = timedelta(hours=1)  # after the visit ends: the patient has had time to reflect
LOOKBACK = timedelta(days=3)  # visits ended longer ago get no survey (a first deploy sends none)
HAPPY = 4  # ratings from here up are invited to review automatically


class FeedbackError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def settings_for(practice: Practice) -> FeedbackSettings:
    """The practice's settings, or unsaved defaults (no review page, no invitations)."""
    found = FeedbackSettings.objects.filter(practice=practice).first()
    return found or FeedbackSettings(practice=practice)


def surveys_create_due(*, now: datetime | None = None) -> int:
    """A survey for every video visit that ended in the last days and has none, with its
    invitation queued for an hour after the visit. Safe to run concurrently: the visit is
    unique on the survey, and only the run that inserted it queues the invitation."""
    now = now or timezone.now()
    surveyed = Survey.objects.filter(visit=OuterRef("pk"))
    visits = (
        visit_selectors.ended_visits(ended_by=now)
        .filter(~Exists(surveyed), ended_at__gte=now - LOOKBACK)
        .exclude(Q(appointment__modality__in=("phone", "in_person")))
    )
    created = 0
    for visit in visits.iterator(chunk_size=200):
        with transaction.atomic():
            survey, new = Survey.objects.get_or_create(
                visit=visit,
                defaults={
                    "practice_id": visit.practice_id,
                    "patient_id": visit.patient_id,
                    "provider_id": visit.provider_id,
                    "modality": visit.appointment.modality if visit.appointment else "video",
                    "created_at": now,
                },
            )
            if not new:
                continue
            survey.patient = visit.patient
            ended = visit.ended_at or now
            messages.queue_survey(survey, send_at=max(now, ended + SURVEY_DELAY))
            created += 1
    return created


def _review_refusal(survey: Survey, settings: FeedbackSettings, *, automatic: bool) -> str | None:
    """Why a review request may not go to this respondent, or None. The caller holds the
    patient's row lock, so two answers of one patient cannot both pass the yearly limit."""
    if not settings.review_url:
        return _("The practice has no public review page set.")
    if automatic and not settings.invite_reviews:
        return _("The practice does not invite reviews.")
    if survey.answered_at is None:
        return _("The patient has not answered the survey.")
    if automatic and (survey.satisfaction or 0) < HAPPY:
        return _("Only patients who rated their visit 4 or 5 are invited automatically.")
    patient_surveys = Survey.objects.filter(patient_id=survey.patient_id)
    if patient_surveys.filter(no_review_requests=True).exists():
        return _("The patient asked not to be asked for reviews.")
    since = timezone.now() - timedelta(days=settings.review_interval_days)
    if patient_surveys.filter(review_requested_at__gte=since).exists():
        return _("The patient was asked for a review less than %(days)s days ago.") % {
            "days": settings.review_interval_days
        }
    return None


def _request_review(survey: Survey, settings: FeedbackSettings, *, by: User | None) -> str | None:
    if not messages.queue_review_request(survey, settings):
        return _("Nothing reaches this patient: no email, and no consent to texts.")
    survey.review_requested_at = timezone.now()
    survey.review_requested_by = by
    survey.save(update_fields=["review_requested_at", "review_requested_by"])
    return None


def survey_answer(
    *,
    survey: Survey,
    satisfaction: int,
    ease: int,
    comment: str,
    no_review_requests: bool,
    by: User | None = None,
    request=None,
) -> Survey:
    """Record the answer once, then invite a happy respondent to review if the practice
    asks for reviews. Raises FeedbackError if the survey was answered already."""
    if not (1 <= satisfaction <= 5 and 1 <= ease <= 5):
        raise FeedbackError(_("Choose a rating from 1 to 5 for each question."))
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=survey.patient_id).first()
        survey = Survey.objects.select_related("patient__practice").get(pk=survey.pk)
        if survey.answered_at is not None:
            raise FeedbackError(_("This survey has already been answered. Thank you!"))
        survey.satisfaction, survey.ease = satisfaction, ease
        survey.comment = comment.strip()
        survey.no_review_requests = no_review_requests
        survey.answered_at = timezone.now()
        survey.save(
            update_fields=["satisfaction", "ease", "comment", "no_review_requests", "answered_at"]
        )
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=survey,
            patient=survey.patient,
            request=request,
            detail="survey answered",
            actor_label="" if by else "survey link",
        )
        settings = settings_for(survey.practice)
        if _review_refusal(survey, settings, automatic=True) is None:
            _request_review(survey, settings, by=None)
    return survey


def review_request_send(*, survey: Survey, by: User, request=None) -> Survey:
    """Staff send one respondent a review request after reading their answer, whatever the
    rating; the patient's refusal, reachability and the yearly limit still hold."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=survey.patient_id).first()
        survey = Survey.objects.select_related("patient__practice").get(pk=survey.pk)
        settings = settings_for(survey.practice)
        problem = _review_refusal(survey, settings, automatic=False)
        if problem is None:
            problem = _request_review(survey, settings, by=by)
        if problem is not None:
            raise FeedbackError(problem)
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=survey,
            patient=survey.patient,
            request=request,
            detail="review request sent by staff",
        )
    return survey


def settings_save(
    *,
    practice: Practice,
    by: User,
    review_url: str,
    invite_reviews: bool,
    review_interval_days: int,
    request=None,
) -> FeedbackSettings:
    with transaction.atomic():
        settings, _created = FeedbackSettings.objects.select_for_update().get_or_create(
            practice=practice
        )
        settings.review_url = review_url
        settings.invite_reviews = invite_reviews
        settings.review_interval_days = review_interval_days
        settings.full_clean()
        settings.save()
        audit.record(
            action=Action.ADMIN_CHANGE,
            actor=by,
            obj=settings,
            request=request,
            detail="feedback settings changed",
        )
    return settings
