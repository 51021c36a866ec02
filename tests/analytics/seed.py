"""Seeded practice activity with known answers, written straight to the tables: these tests
are about the figures, not about booking or sending. One call seeds one week (Monday
`monday`) of practice A; call it for another week to double the data."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from messaging.models import Message, Thread
from rpm.models import Alert, Device, Enrollment, Reading
from scheduling.models import Appointment, AppointmentType, AvailabilityRule
from telehealth.notify.models import InboundMessage, OutboundMessage, PhoneOptOut
from visits.models import Participant, Presence, Visit

ZONE = ZoneInfo("America/New_York")
WEEK_ONE = date(2026, 11, 2)  # a Monday


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE)


def seed_practice(world) -> None:
    """Once per test: hours (Mon-Fri 09:00-13:00 for the one provider) and business hours."""
    provider = world.clinician.provider
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=provider, weekday=d, start_time=time(9), end_time=time(13))
        for d in range(5)
    )
    world.practice.business_hours = {
        d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    }
    world.practice.save(update_fields=["business_hours"])


def seed_week(world, monday: date, *, tag: str) -> None:
    """12 appointments (8 completed, 2 no-shows, 2 cancelled; 30 minutes; booked 3 days
    ahead; half online), 6 texts and an email, 2 confirmations by reply, 1 opt-out, 3 patient
    threads answered after 1, 2 and 3 hours (two closed after 4), one message after hours,
    4 visits (waits 5/10/15/20 min, one fell back to audio, one reconnected), RPM alerts."""
    practice, provider = world.practice, world.clinician.provider
    kind, _ = AppointmentType.objects.get_or_create(
        practice=practice, slug="video", defaults={"name": "Video visit"}
    )
    statuses = ["completed"] * 8 + ["no_show"] * 2 + ["cancelled"] * 2
    appointments = []
    for index, status in enumerate(statuses):
        day = monday + timedelta(days=index % 5)
        start = at(day, 9 + index // 5, 0 if status != "cancelled" else 30)
        appointments.append(
            Appointment.objects.create(
                practice=practice,
                provider=provider,
                patient=world.patient,
                appointment_type=kind,
                start=start,
                end=start + timedelta(minutes=30),
                blocked_start=start,
                blocked_end=start + timedelta(minutes=30),
                modality="video",
                status=status,
                booked_via="online" if index % 2 else "staff",
                created_at=start - timedelta(days=3),
            )
        )
    send = at(monday, 9)
    for index, (channel, status, error) in enumerate(
        [
            ("sms", "delivered", ""),
            ("sms", "delivered", ""),
            ("sms", "delivered", ""),
            ("sms", "delivered", ""),
            ("sms", "failed", '=HYPERLINK("http://x") unreachable'),
            ("sms", "failed", '=HYPERLINK("http://x") unreachable'),
            ("email", "sent", ""),
        ]
    ):
        OutboundMessage.objects.create(
            patient=world.patient,
            channel=channel,
            template="appointment.reminder",
            body="Reminder",
            status=status,
            last_error=error,
            send_at=send,
            created_at=send - timedelta(days=1),
            dedupe_key=f"{tag}-reminder-{index}",
        )
    for index in range(2):
        InboundMessage.objects.create(
            message_sid=f"{tag}-confirm-{index}",
            from_phone="+16175550123",
            from_index=f"{tag}-index-{index}",
            practice=practice,
            patient=world.patient,
            handled_by="scheduling.confirm",
            received_at=at(monday, 10),
        )
    PhoneOptOut.objects.create(
        # Only the first week's is a number of the practice's patients.
        phone_index=world.patient.phone_index if tag == "a" else f"elsewhere-{tag}",
        opted_out_at=at(monday, 12),
        source="sms",
    )
    for hours in (1, 2, 3):
        created = at(monday, 10)
        thread = Thread.objects.create(
            practice=practice,
            patient=world.patient,
            subject="Question",
            category="refill" if hours == 1 else "other",
            created_at=created,
            closed_at=created + timedelta(hours=4) if hours < 3 else None,
            status="closed" if hours < 3 else "open",
        )
        Message.objects.create(
            thread=thread, seq=1, author_kind="patient", body="Hello", created_at=created
        )
        Message.objects.create(
            thread=thread,
            seq=2,
            author_kind="staff",
            author=world.front_desk,
            body="Note",
            internal=True,
            created_at=created + timedelta(minutes=5),
        )
        Message.objects.create(
            thread=thread,
            seq=3,
            author_kind="staff",
            author=world.front_desk if hours < 3 else world.clinician,
            body="Answer",
            created_at=created + timedelta(hours=hours),
        )
        if hours == 3:
            Message.objects.create(
                thread=thread,
                seq=4,
                author_kind="patient",
                body="Thanks",
                created_at=at(monday, 22),
            )
    for index, wait in enumerate((5, 10, 15, 20)):
        appointment = appointments[index]
        started = appointment.start
        visit = Visit.objects.create(
            practice=practice,
            patient=world.patient,
            provider=provider,
            appointment=appointment,
            state="ended",
            waiting_since=started - timedelta(minutes=wait),
            started_at=started,
            ended_at=started + timedelta(minutes=20),
            audio_only=index == 0,
        )
        participant = Participant.objects.create(
            visit=visit, role="patient", user=world.patient.user, display_name="Patient"
        )
        for join in range(2 if index == 1 else 1):
            Presence.objects.create(
                participant=participant,
                joined_at=started + timedelta(minutes=join),
                left_at=started + timedelta(minutes=join + 1),
            )
    for severity, acknowledged in (("critical", timedelta(hours=1)), ("warning", None)):
        Alert.objects.create(
            patient=world.patient,
            rule="threshold",
            vital="systolic",
            episode=f"{tag}-{severity}",
            severity=severity,
            summary="High",
            status="acknowledged" if acknowledged else "open",
            opened_at=at(monday, 11),
            acknowledged_at=at(monday, 11) + acknowledged if acknowledged else None,
        )


def seed_monitoring(world) -> None:
    """Two enrolled patients: one with readings every day of 1-16 November, the other on 10,
    11 and 12 November."""
    for patient, days in ((world.patient, range(1, 17)), (world.other_patient, (10, 11, 12))):
        Enrollment.objects.create(
            patient=patient, program="hypertension", consent_at=at(date(2026, 10, 1), 9)
        )
        device = Device.objects.create(
            patient=patient, kind="bp_cuff", token_hash=f"hash-{patient.pk}", token_hint="abc"
        )
        Reading.objects.bulk_create(
            Reading(
                patient=patient,
                device=device,
                vital="systolic",
                value=120,
                measured_at=at(date(2026, 11, d), 8),
            )
            for d in days
        )
