"""Group sessions for tests, written through the service as staff would."""

from datetime import timedelta

from django.utils import timezone

from visits import group_services
from visits.models import GroupSession


def open_group_session(*, host, patients, capacity: int = 8, co_hosts=(), **fields) -> GroupSession:
    """A session open now (started five minutes ago, for an hour), hosted by `host`."""
    now = timezone.now()
    return group_services.group_session_create(
        by=host,
        title=fields.pop("title", "Diabetes education"),
        host=host,
        co_hosts=list(co_hosts),
        starts_at=fields.pop("starts_at", now - timedelta(minutes=5)),
        ends_at=fields.pop("ends_at", now + timedelta(minutes=55)),
        capacity=capacity,
        modality=GroupSession.Modality.VIDEO,
        patients=list(patients),
        open_for_booking=fields.pop("open_for_booking", False),
    )


def bookable_group_session(*, host, patients=(), capacity: int = 8, **fields) -> GroupSession:
    """A session open for booking, tomorrow for an hour."""
    starts = timezone.now() + timedelta(days=1)
    return open_group_session(
        host=host,
        patients=patients,
        capacity=capacity,
        starts_at=fields.pop("starts_at", starts),
        ends_at=fields.pop("ends_at", starts + timedelta(hours=1)),
        open_for_booking=True,
        **fields,
    )


def admit(session: GroupSession, *patients, by=None) -> None:
    """Let `patients` in as a host would: each arrives in the waiting room (a socket's row)
    and the host admits them; their attendance starts now."""
    from visits import group_live
    from visits.models import GroupWaiting

    for patient in patients:
        invitation = session.invitees.get(patient=patient)
        GroupWaiting.objects.create(invitation=invitation, channel=f"test.{invitation.pk}")
        group_live.group_admit(session=session, by=by or session.host, invitation_id=invitation.pk)
