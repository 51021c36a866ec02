"""A group session's messages to its patients: the place (invited or booked) and a reminder
the day before, queued unrendered through the outbox and rendered by the dispatcher when they
go, so they carry the session's time of that day in the patient's language of that day.

They name neither the session's title nor its subject ("Opioid use disorder group" is health
information, and texts and emails are read on lock screens): a group session with its host,
when, and the portal page where the patient joins. A message whose place is gone (given up,
uninvited, removed) or whose session was cancelled or has started is not sent."""

from datetime import timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from scheduling.calendar import local_text
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from telehealth.notify.models import OutboundMessage
from visits.models import GroupParticipant, GroupSession

PLACE_KEY = "group.place"
REMINDER_KEY = "group.reminder"
CANCELLED_KEY = "group.cancelled"  # rendered when queued: it describes a session that is off
REMINDER_BEFORE = timedelta(hours=24)


def send_time_context(message: OutboundMessage) -> notify.SendTimeContent:
    place = (
        GroupParticipant.objects.select_related("patient__practice", "session__host")
        .filter(pk=message.related_id)
        .first()
    )
    if place is None:
        raise notify.NotToSend("The patient no longer has a place in the group session")
    session = place.session
    if place.removed_at is not None:
        raise notify.NotToSend("A host removed the patient from the group session")
    if session.state == GroupSession.State.CANCELLED:
        raise notify.NotToSend("The group session was cancelled")
    if session.starts_at <= timezone.now():
        raise notify.NotToSend("The group session has started")
    context = {
        **practice_context(place.patient),
        "provider_name": session.host.full_name,
        "start_local": local_text(session.starts_at, place.patient),
        "portal_link": settings.SITE_URL + reverse("visits:groups-mine"),
    }
    return notify.SendTimeContent(patient=place.patient, context=context)


def register() -> None:
    notify.send_time_source_register(GroupParticipant._meta.label, send_time_context)


def queue_place_messages(places: list[GroupParticipant], session: GroupSession) -> None:
    """The place's notice now and the reminder a day before the start (none when the session
    starts sooner), on the one channel that reaches each patient. The dedupe keys name the
    start, so a session moved to another time gets its own reminder."""
    now = timezone.now()
    remind_at = session.starts_at - REMINDER_BEFORE
    for place in places:
        channel = notify.patient_channel(place.patient)
        if channel is None:
            continue
        planned = [
            notify.Planned(
                channel=channel,
                key=PLACE_KEY,
                dedupe_key=f"group:{place.pk}:place:{session.starts_at.isoformat()}",
                render_at_send=True,
            )
        ]
        if remind_at > now:
            planned.append(
                notify.Planned(
                    channel=channel,
                    key=REMINDER_KEY,
                    dedupe_key=f"group:{place.pk}:reminder:{session.starts_at.isoformat()}",
                    send_at=remind_at,
                    render_at_send=True,
                )
            )
        notify.patient_messages_enqueue(patient=place.patient, planned=planned, related=place)


def withdraw_messages(places: list[GroupParticipant]) -> int:
    """Withdraw the messages not yet sent about these places (the session moved or was
    cancelled, the place was given up), in one statement however many places."""
    return OutboundMessage.objects.filter(
        related_type=GroupParticipant._meta.label,
        related_id__in=[str(place.pk) for place in places],
        status=OutboundMessage.Status.QUEUED,
        template__startswith="group.",
    ).update(status=OutboundMessage.Status.CANCELLED)
