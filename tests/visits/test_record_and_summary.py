"""After the visit: audio-only for billing, the note's signing and addenda, the visit record
page by role, and the patient's after-visit summary (message, link, date-of-birth check)."""

import re

import pytest
from django.test import Client

from messaging.models import Message
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in
from tests.visits.test_consumers import make_visit
from visits import services
from visits.models import NoteAddendum, Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture
def visit(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    return services.admit(visit=visit, by=world.clinician)


def summary_messages(visit):
    """The summary goes as a message from the practice in the patient's inbox."""
    return Message.objects.filter(thread__patient=visit.patient, thread__origin="staff")


def test_a_visit_without_patient_video_is_recorded_as_audio_only(world, visit):
    ended = services.end(visit=visit, by=world.clinician)
    assert ended.audio_only is True


def test_a_visit_where_the_patient_sent_video_is_not_audio_only(world, visit):
    services.patient_video_seen(visit=visit)
    ended = services.end(visit=visit, by=world.clinician)
    assert ended.audio_only is False


def test_an_empty_note_cannot_be_signed(world, visit):
    with pytest.raises(services.VisitError, match="Write the note"):
        services.note_sign(visit=visit, by=world.clinician)
    services.note_save(visit=visit, by=world.clinician, soap={"subjective": "   "})
    with pytest.raises(services.VisitError, match="Write the note"):
        services.note_sign(visit=visit, by=world.clinician)


def test_summary_goes_once_when_the_visit_has_ended_and_the_note_is_signed(world, visit):
    services.note_save(
        visit=visit, by=world.clinician, soap={"assessment": "Viral pharyngitis", "plan": "Rest"}
    )
    services.note_sign(visit=visit, by=world.clinician)
    assert not summary_messages(visit).exists()  # the visit is still going on
    services.end(visit=visit, by=world.clinician)
    services.end(visit=visit, by=world.clinician)
    services.note_sign(visit=visit, by=world.clinician)
    sent = list(summary_messages(visit))
    assert len(sent) == 1 and sent[0].thread.subject == "Your visit summary"
    assert "Viral pharyngitis" not in sent[0].body  # no clinical text in the message itself
    assert "/visits/summary/" in sent[0].body
    # No SMS consent in the test world: an email says a message waits in the portal.
    email = OutboundMessage.objects.get(template="messaging.new_message")
    assert email.channel == "email" and "/visits/summary/" not in email.body
    visit.refresh_from_db()
    assert visit.summary_sent_at is not None


def test_signing_after_the_end_sends_the_summary(world, visit):
    services.end(visit=visit, by=world.clinician)
    assert not summary_messages(visit).exists()
    services.note_save(visit=visit, by=world.clinician, soap={"plan": "Fluids"})
    services.note_sign(visit=visit, by=world.clinician)
    assert summary_messages(visit).count() == 1


def test_a_signed_note_is_locked_and_amended_by_addenda(world, visit):
    services.note_save(visit=visit, by=world.clinician, soap={"assessment": "Otitis media"})
    with pytest.raises(services.VisitError, match="not signed"):
        services.addendum_add(visit=visit, by=world.clinician, body="Too early")
    services.note_sign(visit=visit, by=world.clinician)
    with pytest.raises(services.VisitError, match="signed"):
        services.note_save(visit=visit, by=world.clinician, soap={"assessment": "Changed"})
    with pytest.raises(services.VisitError, match="first"):
        services.addendum_add(visit=visit, by=world.clinician, body="  ")
    services.addendum_add(visit=visit, by=world.clinician, body="Culture came back negative.")
    visit.note.refresh_from_db()
    assert visit.note.soap["assessment"] == "Otitis media"
    assert NoteAddendum.objects.get().body == "Culture came back negative."
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM visits_noteaddendum")
        assert "negative" not in cursor.fetchone()[0]  # encrypted at rest


def test_record_page_shows_the_note_to_clinicians_and_never_to_the_front_desk(client, world, visit):
    services.note_save(visit=visit, by=world.clinician, soap={"subjective": "Sore throat"})
    services.end(visit=visit, by=world.clinician)
    sign_in(client, world.clinician)
    page = client.get(f"/visits/{visit.pk}/")
    assert page.status_code == 200
    assert b"Sore throat" in page.content
    assert b"Sign and lock note" in page.content
    desk = sign_in(Client(), world.front_desk).get(f"/visits/{visit.pk}/")
    assert desk.status_code == 200
    assert b"Who took part" in desk.content
    assert b"Sore throat" not in desk.content
    assert b"Visit note" not in desk.content


def test_the_record_page_form_saves_signs_and_amends(client, world, visit):
    services.end(visit=visit, by=world.clinician)
    sign_in(client, world.clinician)
    soap = {"subjective": "Cough", "objective": "", "assessment": "Bronchitis", "plan": "Fluids"}
    saved = client.post(f"/visits/{visit.pk}/note/", soap)
    assert saved["Location"] == f"/visits/{visit.pk}/"
    soap["plan"] = "Fluids and rest"
    signed = client.post(f"/visits/{visit.pk}/note/sign/", soap)
    assert signed["Location"] == f"/visits/{visit.pk}/"
    visit.refresh_from_db()
    assert visit.note.signed_at and visit.note.soap["plan"] == "Fluids and rest"
    # A clinician on the care team who was not in the visit may amend, not rewrite.
    from telehealth.accounts.models import CareTeamMember

    CareTeamMember.objects.create(
        patient=world.patient, clinician=world.other_clinician, reason="assigned"
    )
    other = sign_in(Client(), world.other_clinician)
    assert other.post(f"/visits/{visit.pk}/note/", soap).status_code == 404
    other.post(f"/visits/{visit.pk}/note/addenda/", {"body": "Seen the X-ray: clear."})
    page = client.get(f"/visits/{visit.pk}/")
    assert b"Seen the X-ray: clear." in page.content
    assert b"Summary sent to the patient" in page.content


def summary_link(visit) -> str:
    body = summary_messages(visit).get().body
    found = re.search(r"https?://\S+?(/visits/summary/\S+/)", body)
    assert found is not None
    return found.group(1)


def finished(world, visit):
    services.note_save(
        visit=visit, by=world.clinician, soap={"assessment": "Migraine", "plan": "Ibuprofen"}
    )
    services.note_sign(visit=visit, by=world.clinician)
    return services.end(visit=visit, by=world.clinician)


def test_the_summary_link_asks_for_the_date_of_birth_then_shows_the_plan(client, world, visit):
    finished(world, visit)
    link = summary_link(visit)
    assert client.get(link).status_code == 200
    wrong = client.post(link, {"date_of_birth": "1990-05-05"})
    assert wrong.status_code == 400
    assert b"does not match" in wrong.content
    assert client.get(f"/visits/{visit.pk}/summary/").status_code == 404  # no grant yet
    right = client.post(link, {"date_of_birth": "1980-01-02"})
    assert right["Location"] == f"/visits/{visit.pk}/summary/"
    page = client.get(right["Location"])
    assert b"Migraine" in page.content and b"Ibuprofen" in page.content
    assert client.get("/visits/summary/forged-token/").status_code == 410


def test_the_summary_is_the_patients_own(client, world, visit):
    finished(world, visit)
    sign_in(client, world.patient.user)
    assert client.get(f"/visits/{visit.pk}/summary/").status_code == 200
    assert client.get(summary_link(visit))["Location"] == f"/visits/{visit.pk}/summary/"
    sign_in(client, world.other_patient.user)
    assert client.get(f"/visits/{visit.pk}/summary/").status_code == 404
    sign_in(client, world.clinician)  # staff read the record page, not the patient's summary
    assert client.get(f"/visits/{visit.pk}/summary/").status_code == 404
    assert Client().get(f"/visits/{visit.pk}/summary/").status_code == 404


def test_before_the_note_is_signed_the_summary_says_it_is_coming(client, world, visit):
    services.end(visit=visit, by=world.clinician)
    sign_in(client, world.patient.user)
    page = client.get(f"/visits/{visit.pk}/summary/")
    assert b"still finishing" in page.content


def test_the_chart_lists_visits_with_their_note_state(client, world, visit):
    finished(world, visit)
    sign_in(client, world.clinician)
    chart = client.get(f"/patients/{world.patient.pk}/")
    assert b"Video and phone visits" in chart.content
    assert b"Note signed" in chart.content
    desk = sign_in(Client(), world.front_desk).get(f"/patients/{world.patient.pk}/")
    assert b"Video and phone visits" in desk.content
    assert b"Note signed" not in desk.content


def test_a_clinician_reopening_an_ended_visit_lands_on_its_record(client, world, visit):
    services.end(visit=visit, by=world.clinician)
    sign_in(client, world.clinician)
    assert client.get(f"/visits/{visit.pk}/room/")["Location"] == f"/visits/{visit.pk}/"
    assert Visit.objects.get(pk=visit.pk).state == Visit.State.ENDED
