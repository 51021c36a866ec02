from celery import shared_task
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from scheduling.calendar import appointment_ics, local_start_text
from scheduling.models import Appointment
from scheduling.services import manage_url


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_confirmation_email(appointment_id: int) -> None:
    """The booking confirmation with an .ics attachment, in the patient's language."""
    appointment = Appointment.objects.select_related(
        "patient", "practice", "provider", "appointment_type"
    ).get(pk=appointment_id)
    patient = appointment.patient
    context = {
        "appointment": appointment,
        "when": local_start_text(appointment),
        "manage_url": manage_url(appointment),
    }
    with translation.override(patient.preferred_language):
        subject = render_to_string("scheduling/email/confirmation_subject.txt", context).strip()
        text = render_to_string("scheduling/email/confirmation.txt", context)
        html = render_to_string("scheduling/email/confirmation.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[patient.email])
    message.attach_alternative(html, "text/html")
    message.attach("appointment.ics", appointment_ics(appointment), "text/calendar")
    message.send()
