"""Appointment messages through the outbox: confirmation, the practice's reminder plan,
cancellation and missed-visit follow-up. Called inside the services' transactions.

A booking's messages are all queued unrendered (the row holds the appointment, the template
and the channel) and rendered by the dispatcher when they go (`send_time_context`): booking
stays cheap, and a message sent weeks later carries the visit's, the patient's and the
practice's details of that day, links signed that day (an account invitation expires 14 days
after it is signed), in the patient's language of that day. The confirmation (or the moved
notice) and its calendar file are rendered the same way, seconds after the booking commits.

A message is only ever sent about a visit that is still active when it goes. A confirmation
not yet sent when its visit is moved or cancelled is withdrawn (`cancelled`, with the reason),
never sent as booked: the move queues its own notice of the new time with the calendar file
that moves the event, and the cancellation its own notice with the file that removes it, so
the patient's last word, and calendar, are right. Cancellation and missed-visit messages are
still rendered when queued: they describe a visit that is over."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from scheduling import calendar
from scheduling import links as scheduling_links
from scheduling.calendar import local_text
from scheduling.models import (
    ACTIVE_STATUSES,
    DEFAULT_REMINDER_PLAN,
    Appointment,
    Modality,
    ReminderRule,
)
from telehealth import links
from telehealth.accounts import invitations
from telehealth.notify import services as notify
from telehealth.notify import wording
from telehealth.notify.inbound import practice_context
from telehealth.notify.models import OutboundMessage


def rules_for(practice) -> list[tuple[int, str, str]]:
    # The model's order within one practice, without joining the practice to sort by it.
    rules = list(
        practice.reminder_rules.order_by("-minutes_before").values_list(
            "minutes_before", "channel", "kind", "is_active"
        )
    )
    if not rules:
        return list(DEFAULT_REMINDER_PLAN)  # a practice that never set a plan gets ours
    return [(minutes, channel, kind) for minutes, channel, kind, active in rules if active]


def context_for(appointment: Appointment) -> dict[str, str]:
    link = links.url_for(scheduling_links.MANAGE, appointment)
    join_link = (
        links.url_for(scheduling_links.JOIN, appointment)
        if appointment.modality != "in_person"
        else link
    )
    context = {
        **practice_context(appointment.patient),
        "provider_name": appointment.provider.display_name,
        "visit_type": appointment.appointment_type.name_in(appointment.patient.preferred_language),
        "start_local": local_text(appointment.start, appointment.patient),
        "confirm_link": link,
        "cancel_link": link,
        "join_link": join_link,
        # A whole paragraph for video visits, empty for the others: wording has no conditions.
        "join_instructions": wording.join_instructions(
            language=appointment.patient.preferred_language,
            join_link=join_link,
            minutes=int(scheduling_links.WAITING_ROOM_OPENS.total_seconds() // 60),
        )
        if appointment.modality == Modality.VIDEO
        else "",
    }
    # The invitation paragraph may use the message's other tokens ({practice_name}, ...) when
    # a practice rewords it, so it is rendered with them.
    return {
        **context,
        **invitations.message_context(appointment.patient, context),
    }


BOOKING_NOTICES = frozenset({"appointment.confirmation", "appointment.moved"})


def send_time_context(message: OutboundMessage) -> notify.SendTimeContent:
    """The content of a booking's message rendered as it is sent (the notify registry's source
    for appointments): the confirmation or moved notice, with an email's calendar file, or a
    step of the plan. A cancelled or moved visit's messages were withdrawn with it; one that
    is no longer active when its message comes due gets none."""
    appointment = (
        Appointment.objects.select_related(
            "patient__practice", "provider", "appointment_type", "practice", "replaces"
        )
        .filter(pk=message.related_id)
        .first()
    )
    if appointment is None:
        raise notify.NotToSend("The appointment no longer exists")
    if appointment.status not in ACTIVE_STATUSES:
        raise notify.NotToSend(f"The appointment is {appointment.status}")
    context = context_for(appointment)
    ics = ""
    if message.template in BOOKING_NOTICES:
        if appointment.replaces is not None:
            context["old_start_local"] = local_text(appointment.replaces.start, appointment.patient)
        if message.channel == wording.EMAIL:
            # REQUEST with the visit's SEQUENCE of now: adds it, or moves the event the
            # patient's calendar holds under the same UID.
            ics = calendar.appointment_ics(
                appointment, method=calendar.REQUEST, join_link=context["join_link"]
            ).decode()
    return notify.SendTimeContent(patient=appointment.patient, context=context, ics=ics)


def outside_quiet_hours(send_at: datetime, *, visit_start: datetime, zone: ZoneInfo) -> datetime:
    """Move a text out of the patient's night (21:00-08:00 local) to the next 08:00, unless
    the visit comes before then: a text about a visit that soon goes at its time."""
    local = send_at.astimezone(zone)
    quiet_start, quiet_end = settings.SMS_QUIET_START_HOUR, settings.SMS_QUIET_END_HOUR
    if quiet_end <= local.hour < quiet_start:
        return send_at
    morning_day = local.date() + timedelta(days=1 if local.hour >= quiet_start else 0)
    morning = datetime.combine(morning_day, time(quiet_end), tzinfo=zone)
    return morning if morning < visit_start else send_at


def patient_zone(appointment: Appointment) -> ZoneInfo:
    return ZoneInfo(appointment.practice.time_zone)


def _key(appointment: Appointment, what: str, channel: str) -> str:
    return f"appointment:{appointment.pk}:{what}:{channel}"


def queue_booking_messages(appointment: Appointment) -> None:
    """Confirmation now (or, for a rescheduled visit, a notice naming the old and new times),
    then each reminder of the plan still in the future.

    The join link of a video visit goes by the patient's own channel (`patient_channel`),
    whatever channel the plan's step names; a visit booked closer to its start than a join
    step's lead time gets that step's link at once, unless the visit is already over.

    Nothing is rendered here: every message, the confirmation and its calendar file included,
    is rendered when sent (`send_time_context`). Called in the booking's transaction with the
    appointment it just inserted."""
    patient = appointment.patient
    what = "confirmation" if appointment.replaces_id is None else "moved"
    planned = [
        notify.Planned(
            channel=channel,
            key=f"appointment.{what}",
            dedupe_key=_key(appointment, what, channel),
            render_at_send=True,
        )
        for channel in ("email", "sms")
    ]
    now = timezone.now()
    sms_ok = notify.sms_allowed(patient)
    join_channel = notify.patient_channel(patient, sms_ok=sms_ok)
    join_now_queued = False
    join_steps: set[int] = set()  # two steps at one lead time on two channels: one message
    for minutes_before, channel, kind in rules_for(appointment.practice):
        send_at = appointment.start - timedelta(minutes=minutes_before)
        if kind == ReminderRule.Kind.JOIN_LINK:
            if appointment.modality != Modality.VIDEO or join_channel is None:
                continue
            channel = join_channel
            if minutes_before in join_steps:
                continue
            join_steps.add(minutes_before)
            if send_at <= now:
                # Late booking: one link now for all the steps already passed.
                if join_now_queued or appointment.end <= now:
                    continue
                join_now_queued = True
                send_at = now
        elif send_at <= now:
            continue
        if channel == "sms":
            send_at = outside_quiet_hours(
                send_at, visit_start=appointment.start, zone=patient_zone(appointment)
            )
        planned.append(
            notify.Planned(
                channel=channel,
                key=kind,
                send_at=send_at,
                dedupe_key=_key(appointment, f"{kind}:{minutes_before}", channel),
                render_at_send=True,
            )
        )
    notify.patient_messages_enqueue(
        patient=patient, planned=planned, related=appointment, sms_ok=sms_ok
    )


def queue_cancellation_message(appointment: Appointment) -> None:
    """A text, and an email whose calendar file (METHOD:CANCEL, same UID, higher SEQUENCE)
    takes the visit out of the patient's calendar."""
    context = context_for(appointment)
    ics = calendar.appointment_ics(appointment, method=calendar.CANCEL).decode()
    for channel in ("sms", "email"):
        notify.patient_message_enqueue(
            patient=appointment.patient,
            channel=channel,
            key="appointment.cancelled",
            context=context,
            related=appointment,
            dedupe_key=_key(appointment, "cancelled", channel),
            ics=ics if channel == "email" else "",
        )


def queue_no_show_follow_up(appointment: Appointment) -> None:
    for channel in ("sms", "email"):
        notify.patient_message_enqueue(
            patient=appointment.patient,
            channel=channel,
            key="appointment.no_show",
            context=context_for(appointment),
            related=appointment,
            dedupe_key=_key(appointment, "no_show", channel),
        )


def queue_join_link_now(appointment: Appointment, *, channel: str, dedupe_key: str) -> bool:
    """The join-link message, now, on this channel. False when nothing was queued (the channel
    no longer reaches the patient, or the key was used)."""
    message = notify.patient_message_enqueue(
        patient=appointment.patient,
        channel=channel,
        key=ReminderRule.Kind.JOIN_LINK,
        context=context_for(appointment),
        related=appointment,
        dedupe_key=dedupe_key,
    )
    return message is not None
