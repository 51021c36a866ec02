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
