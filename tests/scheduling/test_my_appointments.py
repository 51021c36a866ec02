"""The patient's appointments page: one bounded page of upcoming and of past visits, links to
the next pages, one audit event naming exactly the visits shown, and each row's links and
labels as the template's filters and tags gave them."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.urls import resolve, reverse
from django.utils import formats, timezone, translation
from django.utils.html import escape

from scheduling import patient_page
from scheduling.links import JOIN, MANAGE
from scheduling.models import Appointment, Modality
from scheduling.patient_page import PAST_PAGE, UPCOMING_PAGE
from telehealth import links
from telehealth.accounts.models import Provider
from telehealth.audit.models import AuditEvent, AuditSubject, chain_parts
from telehealth.audit.services import verify_chain
from telehealth.crypto.fields import EncryptedMixin
from tests.conftest import sign_in
from tests.scheduling.conftest import video_visit_at


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

URL = "/scheduling/mine/"


def upcoming_visits(world, video_type, count: int, patient=None) -> list[Appointment]:
    # Clear of each other and of any other patient's (one provider sees them all).
    base = timezone.now() + timedelta(days=1)
    taken = Appointment.objects.count()
    return [
        video_visit_at(world, video_type, base + timedelta(minutes=25 * n), patient)
        for n in range(taken, taken + count)
    ]


def past_visits(world, video_type, count: int, patient=None) -> list[Appointment]:
    taken = Appointment.objects.count()
    visits = [
        video_visit_at(world, video_type, timezone.now() - timedelta(days=1 + n), patient)
        for n in range(taken, taken + count)
    ]
    Appointment.objects.filter(pk__in=[a.pk for a in visits]).update(status="completed")
    return visits


def walk(client, key: str, section: str) -> tuple[list[Appointment], int]:
    """Every row of one list, following its next-page link from the first page."""
    url, seen, pages = URL, [], 0
    while True:
        page = client.get(url)
        assert page.status_code == 200
        pages += 1
        shown = page.context["page"]
        seen += [row.appointment for row in getattr(shown, section)]
        query = getattr(shown, key)
        if not query:
            return seen, pages
        # A plain link: reachable and followed by keyboard like any other.
        assert f'href="{escape(query)}"' in page.content.decode()
        url = URL + query


def test_older_visits_pages_through_every_past_visit_once_newest_first(client, world, video_type):
    mine = past_visits(world, video_type, 2 * PAST_PAGE + 3)
    theirs = past_visits(world, video_type, 3, patient=world.other_patient)
    sign_in(client, world.patient.user)
    seen, pages = walk(client, "older_query", "past")
    assert seen == sorted(mine, key=lambda a: a.start, reverse=True)
    assert pages == 3
    assert not set(seen) & set(theirs)


def test_later_visits_pages_through_every_upcoming_visit_once_soonest_first(
    client, world, video_type
):
    mine = upcoming_visits(world, video_type, UPCOMING_PAGE + 2)
    theirs = upcoming_visits(world, video_type, 2, patient=world.other_patient)
    sign_in(client, world.patient.user)
    seen, pages = walk(client, "later_query", "upcoming")
    assert seen == sorted(mine, key=lambda a: a.start)
    assert pages == 2
    assert not set(seen) & set(theirs)


def test_a_cursor_naming_another_patients_visit_shows_only_ones_own(client, world, video_type):
    mine = past_visits(world, video_type, 2)
    theirs = past_visits(world, video_type, 1, patient=world.other_patient)[0]
    later = timezone.now() + timedelta(days=400)
    sign_in(client, world.patient.user)
    query = {"before": f"{later.isoformat()}_{theirs.pk}"}
    page = client.get(URL, query)
    assert [row.appointment for row in page.context["page"].past] == mine


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-01-01T10:00:00+00:00",  # no id
        "2026-01-01T10:00:00+00:00_x",
        "2026-01-01T10:00:00_5",  # no zone
        "2026-01-01T10:00:00+00:00_99999999999999999999",
        "9999-12-31T23:59:59-14:00_1",  # past the last day a date can hold, once in UTC
        "0001-01-01T00:00:00+14:00_1",  # before the first
    ],
)
def test_a_page_link_that_cannot_be_read_is_a_400(client, world, value):
    sign_in(client, world.patient.user)
    for key in ("before", "after"):
        response = client.get(URL, {key: value})
        assert response.status_code == 400
        assert "could not be read" in response.content.decode()


def test_one_audit_event_per_view_names_exactly_the_visits_shown(client, world, video_type):
    upcoming_visits(world, video_type, UPCOMING_PAGE + 5)
    past_visits(world, video_type, PAST_PAGE + 5)
    sign_in(client, world.patient.user)
    events, subjects = AuditEvent.objects.count(), AuditSubject.objects.count()
    page = client.get(URL)
    assert AuditEvent.objects.count() == events + 1
    assert AuditSubject.objects.count() - subjects == UPCOMING_PAGE + PAST_PAGE
    event = AuditEvent.objects.latest("id")
    shown = page.context["page"].shown
    assert {(s.object_type, s.object_id, s.patient_id) for s in event.subjects.all()} == {
        ("scheduling.Appointment", str(a.pk), world.patient.pk) for a in shown
    }
    assert chain_parts(event.chain)[0] == world.patient.practice_id
    assert verify_chain(event.chain) is None
    # Every visit shown is in the patient's accounting of disclosures.
    assert AuditEvent.objects.about_patient(world.patient).filter(pk=event.pk).exists()


def test_each_row_links_to_its_own_visit_and_only_video_visits_join(client, world, video_type):
    video = upcoming_visits(world, video_type, 2)
    in_person = upcoming_visits(world, video_type, 1)[0]
    Appointment.objects.filter(pk=in_person.pk).update(modality=Modality.IN_PERSON)
    sign_in(client, world.patient.user)
    rows = client.get(URL).context["page"].upcoming
    assert [row.appointment for row in rows] == [*video, in_person]
    for row in rows:
        token = resolve(row.manage_path).kwargs["token"]
        assert row.manage_path == reverse(links.get(MANAGE).url_name, args=[token])
        assert links.read(MANAGE, token) == row.appointment
    for row in rows[:2]:
        token = resolve(row.join_path).kwargs["token"]
        assert row.join_path == reverse(links.get(JOIN).url_name, args=[token])
        assert links.read(JOIN, token) == row.appointment
    assert rows[2].join_path == ""


def test_a_rows_links_are_signed_at_its_current_link_versions(client, world, video_type):
    """Versions are read with the rows: links revoked (once, twice) open from the page, and
    the tokens sent before the revocation do not; another visit's revocation moves nothing."""
    revoked_once, revoked_twice, untouched = upcoming_visits(world, video_type, 3)
    sent_before = links.token_for(MANAGE, revoked_once)
    links.revoke(MANAGE, revoked_once)
    links.revoke(JOIN, revoked_twice)
    links.revoke(JOIN, revoked_twice)
    sign_in(client, world.patient.user)
    rows = {row.appointment: row for row in client.get(URL).context["page"].upcoming}
    versions = {}
    for appointment, row in rows.items():
        for kind, path in ((MANAGE, row.manage_path), (JOIN, row.join_path)):
            token = resolve(path).kwargs["token"]
            assert links.read(kind, token) == appointment
            link = links.get(kind)
            versions[appointment, kind] = signing.loads(token, salt=link.salt)[link.version_key]
    assert versions == {
        (revoked_once, MANAGE): 2,
        (revoked_once, JOIN): 1,
        (revoked_twice, MANAGE): 1,
        (revoked_twice, JOIN): 3,
        (untouched, MANAGE): 1,
        (untouched, JOIN): 1,
    }
    with pytest.raises(links.LinkRevoked):
        links.read(MANAGE, sent_before)


def test_rows_read_as_the_date_filters_wrote_them_in_the_patients_language(
    client, world, video_type
):
    world.practice.time_zone = "Asia/Tokyo"
    world.practice.save(update_fields=["time_zone"])
    world.patient.preferred_language = "es"
    world.patient.save(update_fields=["preferred_language"])
    upcoming = upcoming_visits(world, video_type, 1)[0]
    past = past_visits(world, video_type, 1)[0]
    sign_in(client, world.patient.user)
    text = client.get(URL, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    zone = ZoneInfo("Asia/Tokyo")
    with translation.override("es"):
        start = upcoming.start.astimezone(zone)
        day = formats.date_format(start, "l j F")
        assert f"{day}, {formats.time_format(start, 'TIME_FORMAT')}" in text
        assert translation.gettext("the video visit on %(day)s") % {"day": day} in text
        assert formats.date_format(past.start.astimezone(zone), "j M Y") in text
        assert str(translation.gettext("Completed")) in text


def test_the_page_reads_only_what_it_shows_and_decrypts_nothing(
    client, world, video_type, monkeypatch
):
    """Each row is read as the columns it shows: no encrypted field (the visit's reasons, the
    patient's record) is read or decrypted, and no provider, visit type or practice row is
    loaded whole per visit."""
    visit = upcoming_visits(world, video_type, 1)[0]
    Appointment.objects.filter(pk=visit.pk).update(reason="Chest pain since Tuesday")
    past_visits(world, video_type, 1)
    sign_in(client, world.patient.user)
    decrypted = []
    real = EncryptedMixin.from_db_value
    viewing = False

    def counted(field, value, expression, connection):
        if viewing:
            decrypted.append(field)
        return real(field, value, expression, connection)

    monkeypatch.setattr(EncryptedMixin, "from_db_value", counted)
    real_page = patient_page.appointments_page

    def page(**kwargs):
        nonlocal viewing
        viewing = True
        try:
            return real_page(**kwargs)
        finally:
            viewing = False

    monkeypatch.setattr(patient_page, "appointments_page", page)
    response = client.get(URL)
    assert response.status_code == 200
    assert decrypted == []
    rows = [*response.context["page"].upcoming, *response.context["page"].past]
    assert len(rows) == 2
    for row in rows:
        assert row.appointment._state.fields_cache == {}  # no related row loaded
        assert {"reason", "cancel_reason"} <= row.appointment.get_deferred_fields()
    assert "Chest pain" not in response.content.decode()


def test_the_written_out_statement_reads_what_the_orm_query_reads(
    require_postgres, world, video_type
):
    """PostgreSQL reads the page with one hand-written statement; the ORM's queries, which
    the other databases run, are its reference: same rows, same order, same link versions,
    at every cursor, with cancelled, other patients' and same-time visits around."""
    ahead = upcoming_visits(world, video_type, UPCOMING_PAGE + 3)
    upcoming_visits(world, video_type, 4, patient=world.other_patient)
    past_visits(world, video_type, PAST_PAGE + 2)
    Appointment.objects.filter(pk=ahead[2].pk).update(status="cancelled")
    Appointment.objects.filter(pk=ahead[5].pk).update(modality=Modality.PHONE)
    # Visits at the same start as others (with another provider): the cursors' id tie-breaks.
    other = Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="twin",
        display_name="Dr Twin",
        npi="1245319599",
    )
    for visit in (ahead[7], ahead[13], *past_visits(world, video_type, 1)):
        twin = Appointment.objects.get(pk=visit.pk)
        twin.pk = None
        twin.provider = other
        twin.save()
    type(video_type).objects.filter(pk=video_type.pk).update(name_es="")
    links.revoke(MANAGE, ahead[4])
    links.revoke(JOIN, ahead[4])
    now = timezone.now()
    user = world.patient.user
    shown = list(Appointment.objects.filter(patient=world.patient).order_by("start", "pk"))
    ties = [a for a in shown if sum(b.start == a.start for b in shown) == 2]
    assert len(ties) == 6
    cursors = [None, *(patient_page.Cursor(a.start, a.pk) for a in shown[::5] + ties)]
    for after in cursors:
        for before in cursors:
            written = patient_page._rows_postgresql(user=user, now=now, after=after, before=before)
            orm = patient_page._rows(
                *patient_page._queries(user=user, now=now, after=after, before=before)
            )
            assert written == orm, (after, before)
    first_page = patient_page._rows_postgresql(user=user, now=now, after=None, before=None)[0]
    assert [row[9:11] for row in first_page if row[0] == ahead[4].pk] == [(2, 2)]  # revoked
