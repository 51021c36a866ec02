"""Texted replies about appointments: C/YES confirms the next one, N/CANCEL cancels it,
R sends a link to choose another time. Joined to notify's inbound chain in apps.py."""

from django.utils import timezone

from scheduling import reminders, services
from scheduling.models import ACTIVE_STATUSES, Appointment, Status
from telehealth.notify import inbound as notify_inbound

CONFIRM = {"C", "YES", "Y", "CONFIRM", "SI", "SÍ"}
CANCEL = {"N", "NO", "CANCEL", "CANCELAR"}
RESCHEDULE = {"R", "RESCHEDULE", "CAMBIAR"}


def next_appointment(patients) -> Appointment | None:
    return (
        Appointment.objects.filter(
            patient__in=patients, status__in=ACTIVE_STATUSES, start__gt=timezone.now()
        )
        .select_related("patient__practice", "provider", "practice", "appointment_type")
        .order_by("start")
        .first()
    )


def handle(message: notify_inbound.Inbound) -> str:
    keyword = message.keyword.rstrip(".!")
    if keyword not in CONFIRM | CANCEL | RESCHEDULE or not message.patients:
        return ""
    if message.media:  # a picture makes it a conversation: the thread keeps it for staff
        return ""
    appointment = next_appointment(message.patients)
    if appointment is None:
        notify_inbound.reply(message, "sms.no_appointment")
        return "scheduling.none"
    context = reminders.context_for(appointment)
    if keyword in CONFIRM:
        if appointment.status == Status.BOOKED:
            services.appointment_set_status(
                appointment=appointment, status=Status.CONFIRMED, by=None
            )
        notify_inbound.reply(message, "sms.confirmed", context)
        return "scheduling.confirm"
    if keyword in CANCEL:
        # The cancellation text queued by the service is the answer.
        services.appointment_cancel(
            appointment=appointment, by=None, reason="Cancelled by text reply"
        )
        return "scheduling.cancel"
    notify_inbound.reply(message, "sms.reschedule", context)
    return "scheduling.reschedule"
