"""A group session's messages: the place notice and the day-before reminder, rendered when
sent and never naming the session's subject; withdrawn and re-queued when the session moves;
a cancellation notice; nothing sent for a place that is gone."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.scheduling.conftest import send_now
from tests.visits.group_helpers import bookable_group_session, open_group_session
from visits import group_messages, group_services
from visits.models import GroupParticipant, GroupSession


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

TITLE = "Opioid use disorder group"


def messages(place: GroupParticipant, **filters):
    return OutboundMessage.objects.filter(
        related_type="visits.GroupParticipant", related_id=str(place.pk), **filters
    ).order_by("send_at", "pk")


def tomorrow(world, patients, **fields) -> GroupSession:
    starts = timezone.now() + timedelta(days=2)
    return open_group_session(
        host=world.clinician,
        patients=patients,
        title=TITLE,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        **fields,
    )


def edit(session: GroupSession, world, *, title: str = TITLE, starts_at=None, patients) -> None:
    """Staff save the session's form with these changes (the rest as it is)."""
    starts_at = starts_at or session.starts_at
    group_services.group_session_update(
        session=session,
        by=world.clinician,
        title=title,
        host=world.clinician,
        co_hosts=[],
        starts_at=starts_at,
        ends_at=starts_at + (session.ends_at - session.starts_at),
        capacity=session.capacity,
        modality=session.modality,
        patients=patients,
    )


def test_each_invited_patient_gets_the_place_now_and_a_reminder_the_day_before(world):
    session = tomorrow(world, [world.patient, world.other_patient])
    for place in session.invitees.all():
        queued = list(messages(place, status=OutboundMessage.Status.QUEUED))
        assert [m.template for m in queued] == ["group.place", "group.reminder"]
        assert all(m.render_at_send and m.body == "" for m in queued)
        assert queued[1].send_at == session.starts_at - timedelta(hours=24)


def test_the_place_email_is_rendered_when_sent_without_the_sessions_subject(world):
    session = tomorrow(world, [world.patient])
    place = session.invitees.get()
    sent = send_now(messages(place, template="group.place").get())
    assert sent.status == OutboundMessage.Status.SENT, sent.last_error
    assert "group session with Dr Alpha" in sent.body
    assert "http://localhost:8000/groups/mine/" in sent.body
    assert TITLE not in sent.body and TITLE not in sent.subject
    assert [m.subject for m in mail.outbox if m.to == [world.patient.email]] == [sent.subject]


def test_a_patient_reading_spanish_gets_spanish_on_the_day_it_goes(world):
    session = tomorrow(world, [world.patient])
    Patient.objects.filter(pk=world.patient.pk).update(preferred_language="es")
    sent = send_now(messages(session.invitees.get(), template="group.reminder").get())
    assert sent.subject.startswith("Recordatorio: su sesión grupal del")


def test_a_session_starting_within_a_day_gets_no_reminder(world):
    session = open_group_session(host=world.clinician, patients=[world.patient])
    assert [m.template for m in messages(session.invitees.get())] == ["group.place"]


@pytest.mark.parametrize("case", ["removed", "cancelled_state", "started", "given_up"])
def test_nothing_is_sent_for_a_place_that_is_gone_or_a_session_that_is_off(world, case):
    session = tomorrow(world, [world.patient])
    place = session.invitees.get()
    reminder = messages(place, template="group.reminder").get()
    if case == "removed":
        GroupParticipant.objects.filter(pk=place.pk).update(removed_at=timezone.now())
    if case == "cancelled_state":
        GroupSession.objects.filter(pk=session.pk).update(state=GroupSession.State.CANCELLED)
    if case == "started":
        GroupSession.objects.filter(pk=session.pk).update(starts_at=timezone.now())
    if case == "given_up":
        GroupParticipant.objects.filter(pk=place.pk).delete()
    sent = send_now(reminder)
    assert sent.status != OutboundMessage.Status.SENT
    assert not mail.outbox


def test_moving_the_session_withdraws_the_old_messages_and_queues_the_new_time(world):
    session = tomorrow(world, [world.patient])
    place = session.invitees.get()
    old = list(messages(place))
    new_start = session.starts_at + timedelta(days=3)
    edit(session, world, starts_at=new_start, patients=[world.patient, world.other_patient])
    for message in old:
        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.CANCELLED
    queued = messages(place, status=OutboundMessage.Status.QUEUED)
    assert [(m.template, m.send_at) for m in queued] == [
        ("group.place", queued[0].send_at),
        ("group.reminder", new_start - timedelta(hours=24)),
    ]
    newcomer = session.invitees.get(patient=world.other_patient)
    assert messages(newcomer, status=OutboundMessage.Status.QUEUED).count() == 2


def test_an_edit_that_keeps_the_time_tells_only_newcomers(world):
    session = tomorrow(world, [world.patient])
    edit(session, world, title="Renamed", patients=[world.patient, world.other_patient])
    assert messages(session.invitees.get(patient=world.patient)).count() == 2
    assert messages(session.invitees.get(patient=world.other_patient)).count() == 2


def test_cancelling_withdraws_what_is_queued_and_tells_each_patient(world):
    session = tomorrow(world, [world.patient])
    place = session.invitees.get()
    group_services.group_session_cancel(session=session, by=world.clinician)
    statuses = {m.template: m.status for m in messages(place)}
    assert statuses == {
        "group.place": OutboundMessage.Status.CANCELLED,
        "group.reminder": OutboundMessage.Status.CANCELLED,
        "group.cancelled": OutboundMessage.Status.QUEUED,
    }
    notice = messages(place, template="group.cancelled").get()
    assert "is cancelled" in notice.body and TITLE not in notice.body + notice.subject


def test_booking_a_place_queues_its_messages_and_giving_it_up_withdraws_them(world):
    starts = timezone.now() + timedelta(days=2)
    session = bookable_group_session(
        host=world.clinician, starts_at=starts, ends_at=starts + timedelta(hours=1)
    )
    place = group_services.group_seat_book(session=session, patient=world.patient)
    assert messages(place, status=OutboundMessage.Status.QUEUED).count() == 2
    group_services.group_seat_cancel(invitation=place)
    assert not messages(place, status=OutboundMessage.Status.QUEUED).exists()
    assert group_messages.withdraw_messages([place]) == 0


def test_a_session_moved_away_and_back_is_told_again_each_time(world):
    session = tomorrow(world, [world.patient])
    place = session.invitees.get()
    first_start = session.starts_at
    for start in (first_start + timedelta(days=1), first_start):
        edit(session, world, starts_at=start, patients=[world.patient])
        session.refresh_from_db()
        queued = messages(place, status=OutboundMessage.Status.QUEUED)
        assert [m.template for m in queued] == ["group.place", "group.reminder"]
        assert queued[1].send_at == start - timedelta(hours=24)
