from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

NY = ZoneInfo("America/New_York")


def local(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.localtime(timezone.now(), NY).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour, minute), tzinfo=NY).astimezone(ZoneInfo("UTC"))


def video_visit_at(world, video_type, start: datetime, patient=None):
    """A staff-booked 20-minute video visit at `start`, written directly: tests of the join
    link need starts (minutes away, already over) that booking rules would refuse."""
    from scheduling.models import Appointment

    patient = patient or world.patient
    return Appointment.objects.create(
        practice=patient.practice,
        provider=world.clinician.provider,
        patient=patient,
        appointment_type=video_type,
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality="video",
        booked_via="staff",
        patient_state="MA",  # where they said they would be, as every booking records
    )


def send_now(message):
    """Run the dispatcher as if the queued `message` had come due: reminders are rendered
    then, from the appointment as it is. Answers the row as the dispatcher left it."""
    from telehealth.notify.dispatch import dispatch_due
    from telehealth.notify.models import OutboundMessage

    OutboundMessage.objects.filter(pk=message.pk).update(send_at=timezone.now())
    dispatch_due()
    message.refresh_from_db()
    return message


def slot_links(page, *, suggested: bool = False) -> list[dict[str, str]]:
    """The query parameters of each open-time link a booking page shows (`suggested`: of the
    suggested times instead of the grid's), as the patient's browser would follow them."""
    import html
    import re
    from urllib.parse import parse_qsl, urlsplit

    css = "slot slot--suggested" if suggested else "slot"
    hrefs = re.findall(rf'<a class="{css}" href="([^"]+)"', page.content.decode())
    return [dict(parse_qsl(urlsplit(html.unescape(href)).query)) for href in hrefs]
