"""The survey invitation, queued unrendered and rendered by the dispatcher when it goes (the
way appointment reminders are: the link is signed that day, in the patient's language of that
day), and the review request, rendered when queued."""

from datetime import datetime

from feedback import links as feedback_links
from feedback.models import FeedbackSettings, Survey
from telehealth import links
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from telehealth.notify.models import OutboundMessage

SURVEY_KEY = "feedback.survey"
REVIEW_KEY = "feedback.review"


def survey_send_time_context(message: OutboundMessage) -> notify.SendTimeContent:
    survey = (
        Survey.objects.select_related("patient__practice", "provider")
        .filter(pk=message.related_id)
        .first()
    )
    if survey is None:
        raise notify.NotToSend("The survey no longer exists")
    if survey.answered_at is not None:
        raise notify.NotToSend("The survey was answered in the portal")
    context = {
        **practice_context(survey.patient),
        "provider_name": survey.provider.display_name if survey.provider else "",
        "survey_link": links.url_for(feedback_links.SURVEY, survey),
    }
    return notify.SendTimeContent(patient=survey.patient, context=context)


def register() -> None:
    notify.send_time_source_register(Survey._meta.label, survey_send_time_context)


def queue_survey(survey: Survey, *, send_at: datetime) -> bool:
    """The invitation on the one channel that reaches the patient (their choice, honouring
    SMS consent and STOP), at the survey's send time. False when nothing reaches them."""
    channel = notify.patient_channel(survey.patient)
    if channel is None:
        return False
    queued = notify.patient_messages_enqueue(
        patient=survey.patient,
        planned=[
            notify.Planned(
                channel=channel,
                key=SURVEY_KEY,
                dedupe_key=f"feedback:survey:{survey.visit_id}",
                send_at=send_at,
                render_at_send=True,
            )
        ],
        related=survey,
    )
    return queued > 0


def queue_review_request(survey: Survey, settings: FeedbackSettings) -> bool:
    channel = notify.patient_channel(survey.patient)
    if channel is None:
        return False
    message = notify.patient_message_enqueue(
        patient=survey.patient,
        channel=channel,
        key=REVIEW_KEY,
        context={**practice_context(survey.patient), "review_link": settings.review_url},
        related=survey,
        dedupe_key=f"feedback:review:{survey.pk}",
    )
    return message is not None
