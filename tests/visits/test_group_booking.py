"""Patients book a place in group sessions open for booking, up to capacity, and give up
their place before the start."""

from datetime import timedelta
from functools import partial

import pytest
from django.urls import reverse
from django.utils import timezone

from telehealth.audit.models import AuditEvent
from tests.concurrency import at_once
from tests.conftest import make_patient, sign_in
from tests.visits.group_helpers import bookable_group_session, open_group_session
from visits import group_services
from visits.models import GroupParticipant, GroupSession


def book(client, session):
    return client.post(reverse("visits:group-book", args=[session.pk]))


def mine(client):
    return client.get(reverse("visits:groups-mine"))


@pytest.mark.django_db
def test_staff_open_a_session_for_booking_from_the_form(client, world):
    sign_in(client, world.clinician)
    start = timezone.localtime() + timedelta(days=2)
    response = client.post(
        reverse("visits:group-new"),
        {
            "title": "Walking group",
            "host": world.clinician.pk,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "capacity": 6,
            "modality": "video",
            "open_for_booking": "on",
        },
    )
    assert response.status_code == 302
    session = GroupSession.objects.get()
    assert session.open_for_booking
    edit = client.get(reverse("visits:group-edit", args=[session.pk]))
    assert edit.context["form"].initial["open_for_booking"] is True


@pytest.mark.django_db
def test_a_patient_sees_open_sessions_books_a_place_and_the_roster_shows_it(client, world):
    session = bookable_group_session(host=world.clinician, capacity=3, title="Walking group")
    sign_in(client, world.patient.user)
    page = mine(client)
    assert [s.pk for s in page.context["bookable"]] == [session.pk]
    assert "3 places left" in page.content.decode()
    assert "Book a place" in page.content.decode()

    response = book(client, session)
    assert response.status_code == 302
    seat = GroupParticipant.objects.get(session=session, patient=world.patient)
    assert seat.booked_at is not None
    page = mine(client)
    assert list(page.context["bookable"]) == []
    assert [i.session_id for i in page.context["invitations"]] == [session.pk]
    event = AuditEvent.objects.filter(detail="booked a seat in a group session").get()
    assert event.actor_id == world.patient.user.pk and event.patient_id == world.patient.pk

    sign_in(client, world.clinician)
    roster = client.get(reverse("visits:group", args=[session.pk])).content.decode()
    assert "booked a place" in roster and "Open for booking" in roster


@pytest.mark.django_db
def test_a_full_session_says_so_and_booking_it_is_a_409_that_writes_nothing(client, world):
    session = bookable_group_session(host=world.clinician, capacity=1, patients=[world.patient])
    sign_in(client, world.other_patient.user)
    assert "Full" in mine(client).content.decode()
    response = book(client, session)
    assert response.status_code == 409
    assert "This group session is full." in response.content.decode()
    assert not GroupParticipant.objects.filter(patient=world.other_patient).exists()


@pytest.mark.django_db
def test_a_removed_patient_does_not_count_against_capacity_nor_books_again(world):
    session = bookable_group_session(host=world.clinician, capacity=1, patients=[world.patient])
    GroupParticipant.objects.filter(session=session).update(removed_at=timezone.now())
    with pytest.raises(group_services.GroupRefused, match="removed you") as refused:
        group_services.group_seat_book(session=session, patient=world.patient)
    assert refused.value.status == 403
    with pytest.raises(group_services.GroupRefused, match="removed you"):
        group_services.group_seat_cancel(invitation=session.invitees.get(patient=world.patient))
    group_services.group_seat_book(session=session, patient=world.other_patient)
    assert session.invitees.filter(removed_at__isnull=True).count() == 1
    assert session.invitees.filter(patient=world.patient, removed_at__isnull=False).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("case", "message", "status"),
    [
        ("closed", "not open for booking", 403),
        ("started", "already started", 409),
        ("cancelled", "was cancelled", 409),
        ("twice", "already have a place", 409),
    ],
)
def test_booking_is_refused_with_its_reason(client, world, case, message, status):
    session = bookable_group_session(host=world.clinician)
    if case == "closed":
        GroupSession.objects.filter(pk=session.pk).update(open_for_booking=False)
    if case == "started":
        GroupSession.objects.filter(pk=session.pk).update(
            starts_at=timezone.now() - timedelta(minutes=1)
        )
    if case == "cancelled":
        GroupSession.objects.filter(pk=session.pk).update(state=GroupSession.State.CANCELLED)
    if case == "twice":
        group_services.group_seat_book(session=session, patient=world.patient)
    session.refresh_from_db()
    places = GroupParticipant.objects.count()
    with pytest.raises(group_services.GroupRefused, match=message) as refused:
        group_services.group_seat_book(session=session, patient=world.patient)
    assert refused.value.status == status
    assert GroupParticipant.objects.count() == places
    if case != "closed":  # a closed session is not found by the page at all
        sign_in(client, world.patient.user)
        response = book(client, session)
        assert response.status_code == status
        assert message in response.content.decode()


@pytest.mark.django_db
def test_a_session_of_another_practice_or_not_open_is_not_found(client, world):
    theirs = bookable_group_session(host=world.outside_clinician)
    closed = open_group_session(host=world.clinician, patients=[])
    sign_in(client, world.patient.user)
    assert list(mine(client).context["bookable"]) == []
    assert book(client, theirs).status_code == 404
    assert book(client, closed).status_code == 404
    assert not GroupParticipant.objects.exists()


@pytest.mark.django_db
def test_giving_up_a_place_frees_it_and_is_refused_once_the_session_started(client, world):
    session = bookable_group_session(host=world.clinician, capacity=1)
    sign_in(client, world.patient.user)
    assert book(client, session).status_code == 302
    response = client.post(reverse("visits:group-give-up", args=[session.pk]))
    assert response.status_code == 302
    assert not session.invitees.exists()
    assert AuditEvent.objects.filter(detail="gave up a place in a group session").count() == 1
    assert [s.pk for s in mine(client).context["bookable"]] == [session.pk]

    started = open_group_session(host=world.clinician, patients=[world.patient])
    response = client.post(reverse("visits:group-give-up", args=[started.pk]))
    assert response.status_code == 409
    assert "already started" in response.content.decode()
    assert started.invitees.filter(patient=world.patient).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_bookings_of_the_last_places_never_exceed_capacity(require_postgres):
    from tests.conftest import World

    world = World()
    patients = [
        make_patient(world.practice, f"Booker {i}", f"booker{i}@x.test", phone=f"+1617556{i:04d}")
        for i in range(8)
    ]
    session = bookable_group_session(host=world.clinician, capacity=3)

    def attempt(patient) -> str:
        try:
            group_services.group_seat_book(session=session, patient=patient)
        except group_services.GroupRefused as refused:
            return str(refused)
        return "booked"

    outcomes = [str(o) for o in at_once([partial(attempt, p) for p in patients])]
    assert sorted(outcomes) == ["This group session is full."] * 5 + ["booked"] * 3
    assert session.invitees.count() == 3


@pytest.mark.django_db
def test_a_place_booked_while_staff_edit_the_session_stays_and_deselected_ones_go(client, world):
    session = bookable_group_session(host=world.clinician, capacity=5, patients=[world.patient])
    sign_in(client, world.clinician)
    form = client.get(reverse("visits:group-edit", args=[session.pk])).context["form"]
    shown = form.initial["patients_shown"]
    assert shown == str(world.patient.pk)
    newcomer = make_patient(world.practice, "Nell Newcomer", "nell@x.test")
    group_services.group_seat_book(session=session, patient=newcomer)  # meanwhile
    start, end = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    data = {
        "title": "Walking group, renamed",
        "host": world.clinician.pk,
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": end.strftime("%Y-%m-%dT%H:%M"),
        "capacity": 5,
        "modality": "video",
        "open_for_booking": "on",
        "patients_shown": shown,
        "patients": [],  # the staff member deselected the one patient they saw
    }
    response = client.post(reverse("visits:group-edit", args=[session.pk]), data)
    assert response.status_code == 302
    assert [i.patient for i in session.invitees.all()] == [newcomer]
    assert (
        client.post(
            reverse("visits:group-edit", args=[session.pk]), {**data, "patients_shown": "1,x"}
        ).status_code
        == 400
    )


@pytest.mark.django_db
def test_a_patient_let_in_early_cannot_give_up_the_place_while_in_the_room(world):
    from tests.visits.group_helpers import admit

    starts = timezone.now() + timedelta(minutes=10)  # the room opens 15 minutes before
    session = open_group_session(
        host=world.clinician,
        patients=[world.patient],
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
    )
    admit(session, world.patient)
    place = session.invitees.get()
    with pytest.raises(group_services.GroupRefused, match="leave it first"):
        group_services.group_seat_cancel(invitation=place)
    assert session.invitees.filter(pk=place.pk).exists()


@pytest.mark.django_db
def test_a_removal_that_lands_first_is_not_undone_by_giving_up(world):
    session = bookable_group_session(host=world.clinician, patients=[world.patient])
    place = session.invitees.get()  # the page read the place before the host removed them
    GroupParticipant.objects.filter(pk=place.pk).update(removed_at=timezone.now())
    with pytest.raises(group_services.GroupRefused, match="removed you"):
        group_services.group_seat_cancel(invitation=place)
    assert session.invitees.filter(pk=place.pk, removed_at__isnull=False).exists()
