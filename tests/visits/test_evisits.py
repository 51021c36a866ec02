"""E-visits: the case's whole life (draft, submission, review, questions, response,
escalation), its photos kept encrypted without metadata, its time, and who may see it."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from intake.models import Form, Response
from telehealth.accounts.models import CareTeamMember, Role
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_patient, make_staff, sign_in
from tests.visits.evisit_helpers import (
    FOLLOW_UP_ANSWERS,
    condition,
    photo_upload,
    submitted_evisit,
    taken_evisit,
)
from visits import evisit_selectors as selectors
from visits import evisit_services as services
from visits.models import EVisit, EVisitCondition

State = EVisit.State


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


# --- Conditions ------------------------------------------------------------------------------


def test_a_practice_gets_the_four_conditions_each_with_its_questionnaire_once(world):
    services.conditions_install(world.practice)
    services.conditions_install(world.practice)
    conditions = EVisitCondition.objects.filter(practice=world.practice)
    assert sorted(conditions.values_list("slug", flat=True)) == [
        "follow-up",
        "rash",
        "refill",
        "uti",
    ]
    rash = conditions.get(slug="rash")
    assert rash.form.slug == "evisit-rash" and rash.form.practice == world.practice
    assert rash.form.current is not None
    assert rash.form.current.questionnaire["url"].endswith("/alpha/Questionnaire/evisit-rash")
    assert Form.objects.filter(practice=world.practice, slug__startswith="evisit-").count() == 4


# --- The patient's draft and submission ------------------------------------------------------


def test_starting_twice_resumes_the_draft(world):
    rash = condition(world.practice, "rash")
    first = services.evisit_start(patient=world.patient, condition=rash)
    assert services.evisit_start(patient=world.patient, condition=rash) == first
    assert first.response is not None
    assert first.state == State.DRAFT and first.response.status == Response.Status.IN_PROGRESS


def test_another_practices_condition_cannot_be_started(world):
    theirs = condition(world.outside_practice)
    with pytest.raises(services.EVisitError):
        services.evisit_start(patient=world.patient, condition=theirs)


def test_a_submission_missing_required_answers_stays_a_draft_and_keeps_what_was_given(world):
    evisit = services.evisit_start(patient=world.patient, condition=condition(world.practice))
    saved = services.evisit_save(
        evisit=evisit, raw={"about": ["Last visit"]}, uploads=[photo_upload()], submit=True
    )
    assert not saved.submitted and "question" in saved.errors
    evisit.refresh_from_db()
    assert evisit.state == State.DRAFT and evisit.submitted_at is None
    assert evisit.response is not None
    assert evisit.response.answers == {"about": ["Last visit"]}
    assert evisit.photos.count() == 1  # the photo is not lost with the failed submission


def test_submitting_sets_the_due_time_from_the_conditions_business_hours(world, settings):
    world.practice.business_hours = {
        d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    world.practice.save()
    before = timezone.now()
    evisit = submitted_evisit(patient=world.patient)
    assert evisit.state == State.SUBMITTED
    assert evisit.response is not None and evisit.due_at is not None
    assert evisit.response.status == Response.Status.COMPLETED
    hours = evisit.condition.sla_business_hours
    assert (
        before + timedelta(hours=hours)
        <= evisit.due_at
        <= timezone.now() + timedelta(hours=hours, minutes=hours)
    )  # open all day but 23:59-00:00: at most a minute lost per day


def test_a_photo_is_kept_encrypted_without_its_location(world):
    evisit = submitted_evisit(patient=world.patient)
    photo = evisit.photos.get()
    stored = (settings.MEDIA_ROOT / photo.file.name).read_bytes()
    assert not stored.startswith(b"\xff\xd8")  # ciphertext on disk
    assert photo.file.name.startswith("evisits/") and "rash" not in photo.file.name
    with photo.file.open("rb") as opened:
        image = Image.open(io.BytesIO(opened.read()))
    assert image.format == "JPEG" and dict(image.getexif()) == {}
    assert photo.name == "rash.jpg"


def test_a_file_that_is_not_a_photo_is_refused_with_its_name_and_nothing_is_sent(world):
    evisit = services.evisit_start(patient=world.patient, condition=condition(world.practice))
    fake = SimpleUploadedFile("invoice.jpg", b"MZ\x90\x00 not a picture", "image/jpeg")
    saved = services.evisit_save(evisit=evisit, raw=FOLLOW_UP_ANSWERS, uploads=[fake], submit=True)
    assert not saved.submitted and "invoice.jpg" in saved.errors["photos"]
    evisit.refresh_from_db()
    assert evisit.state == State.DRAFT and not evisit.photos.exists()


def test_more_photos_than_a_case_takes_are_refused(world):
    evisit = services.evisit_start(patient=world.patient, condition=condition(world.practice))
    uploads = [photo_upload(size=(40, 30)) for _ in range(services.MAX_PHOTOS + 1)]
    saved = services.evisit_save(evisit=evisit, raw={}, uploads=uploads, submit=False)
    assert "photos" in saved.errors and not evisit.photos.exists()


def test_photos_added_by_a_concurrent_save_count_against_the_limit(world, monkeypatch):
    """Two saves of one draft at once (two tabs): each counted room for its photos before
    taking the row lock; the second must count again under the lock."""
    evisit = services.evisit_start(patient=world.patient, condition=condition(world.practice))
    locked = services._locked

    def other_tab_saved_first(case):
        monkeypatch.setattr(services, "_locked", locked)
        services.evisit_save(
            evisit=case,
            raw={},
            uploads=[photo_upload(size=(40, 30)) for _ in range(services.MAX_PHOTOS - 1)],
            submit=False,
        )
        return locked(case)

    monkeypatch.setattr(services, "_locked", other_tab_saved_first)
    uploads = [photo_upload(size=(40, 30)) for _ in range(2)]
    saved = services.evisit_save(evisit=evisit, raw={}, uploads=uploads, submit=False)
    assert "1 more can be added" in saved.errors["photos"]
    assert evisit.photos.count() == services.MAX_PHOTOS - 1


# --- The clinician's review ------------------------------------------------------------------


def test_the_whole_life_of_a_case_with_a_question_and_a_response(world):
    other = make_patient(world.practice, "New Patient", "new@alpha.test", phone="+16175550777")
    evisit = taken_evisit(patient=other, clinician=world.other_clinician)
    assert evisit.state == State.IN_REVIEW and evisit.first_action_at is not None
    assert CareTeamMember.objects.filter(patient=other, clinician=world.other_clinician).exists()

    services.evisit_ask(evisit=evisit, clinician=world.other_clinician, body="Does it itch?")
    evisit.refresh_from_db()
    assert evisit.state == State.AWAITING_PATIENT and evisit.first_response_at is not None
    question_notice = OutboundMessage.objects.get(template="evisit.update", patient=other)
    assert "itch" not in question_notice.body  # no PHI in the notice: it sends to the portal
    assert reverse("visits:evisit", args=[evisit.pk]) in question_notice.body

    services.evisit_reply(evisit=evisit, by=other.user, body="Yes, at night.")
    evisit.refresh_from_db()
    assert evisit.state == State.IN_REVIEW

    first_response = evisit.first_response_at
    services.evisit_complete(
        evisit=evisit,
        clinician=world.other_clinician,
        assessment="Contact dermatitis",
        plan="Hydrocortisone 1% twice daily for 7 days",
        response="Use the cream twice a day; write again if it spreads.",
    )
    evisit.refresh_from_db()
    assert evisit.state == State.COMPLETED and evisit.completed_at is not None
    assert evisit.first_response_at == first_response
    assert evisit.assessment == "Contact dermatitis"
    assert [m.kind for m in selectors.messages_of(evisit)] == ["question", "reply", "response"]
    assert OutboundMessage.objects.filter(template="evisit.update", patient=other).count() == 2
    actions = AuditEvent.objects.filter(object_type="visits.EVisit", object_id=str(evisit.pk))
    assert {"assigned", "completed", "submitted"} <= set(actions.values_list("detail", flat=True))


def test_the_assessment_and_plan_are_encrypted_at_rest(world):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    services.evisit_complete(
        evisit=evisit,
        clinician=world.clinician,
        assessment="Cellulitis",
        plan="Cefalexin",
        response="r",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT assessment, plan FROM visits_evisit WHERE id = %s", [evisit.pk])
        raw = " ".join(cursor.fetchone())
    assert "Cellulitis" not in raw and "Cefalexin" not in raw


@pytest.mark.parametrize(
    ("act", "state"),
    [
        ("complete", State.AWAITING_PATIENT),
        ("ask", State.AWAITING_PATIENT),
        ("ask", State.COMPLETED),
        ("escalate", State.COMPLETED),
    ],
)
def test_moves_the_state_machine_does_not_allow_are_refused(world, act, state):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    EVisit.objects.filter(pk=evisit.pk).update(state=state)
    calls = {
        "complete": lambda: services.evisit_complete(
            evisit=evisit, clinician=world.clinician, assessment="a", plan="p", response="r"
        ),
        "ask": lambda: services.evisit_ask(evisit=evisit, clinician=world.clinician, body="q"),
        "escalate": lambda: services.evisit_escalate(
            evisit=evisit, clinician=world.clinician, note="n"
        ),
    }
    with pytest.raises(services.EVisitError):
        calls[act]()
    evisit.refresh_from_db()
    assert evisit.state == state


def test_only_the_clinician_who_took_the_case_works_on_it(world):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    with pytest.raises(services.EVisitError):
        services.evisit_ask(evisit=evisit, clinician=world.other_clinician, body="Hello?")
    with pytest.raises(services.EVisitError):
        services.evisit_assign(evisit=evisit, clinician=world.other_clinician)


def test_a_patient_cannot_cancel_a_case_under_review(world):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    with pytest.raises(services.EVisitError):
        services.evisit_cancel(evisit=evisit, by=world.patient.user)


def test_escalation_sends_the_clinicians_booking_page_and_closes_the_case(world):
    evisit = submitted_evisit(patient=world.patient)
    services.evisit_escalate(evisit=evisit, clinician=world.clinician, note="Needs an exam.")
    evisit.refresh_from_db()
    assert evisit.state == State.ESCALATED and evisit.assigned_to == world.clinician
    link = settings.SITE_URL + reverse("scheduling:book-provider", args=["alpha", "doc"])
    notice = OutboundMessage.objects.get(template="evisit.escalated", patient=world.patient)
    assert link in notice.body
    assert link in selectors.messages_of(evisit).get().body


# --- Time for the online digital E/M codes ---------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "counted"),
    [
        ([4], 4),  # under 5: no code (billing decides), but the minutes are there
        ([3, 4], 7),  # 99421 territory: 5-10
        ([10, 6], 16),  # 99422: 11-20
        ([15, 10], 25),  # 99423: 21+
    ],
)
def test_minutes_add_up_across_the_case(world, entries, counted):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    today = timezone.localdate(timezone=world.practice.zone)
    for minutes in entries:
        services.evisit_time_record(
            evisit=evisit,
            clinician=world.clinician,
            minutes=minutes,
            work_date=today,
            activity="Reviewed photos and history",
        )
    assert selectors.case_minutes(evisit).minutes == counted


def test_minutes_after_the_seven_day_window_are_recorded_but_not_counted(world):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    first = timezone.now() - timedelta(days=9)
    EVisit.objects.filter(pk=evisit.pk).update(first_action_at=first)
    evisit.refresh_from_db()
    today = timezone.localdate(timezone=world.practice.zone)
    for minutes, day in [(8, today - timedelta(days=8)), (6, today)]:
        services.evisit_time_record(
            evisit=evisit,
            clinician=world.clinician,
            minutes=minutes,
            work_date=day,
            activity="Reviewed",
        )
    counted = selectors.case_minutes(evisit)
    assert (counted.minutes, counted.recorded) == (8, 14)


@pytest.mark.parametrize("minutes", [0, 241])
def test_time_outside_one_to_240_minutes_is_refused(world, minutes):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    with pytest.raises(services.EVisitError):
        services.evisit_time_record(
            evisit=evisit,
            clinician=world.clinician,
            minutes=minutes,
            work_date=timezone.localdate(),
            activity="x",
        )


# --- Who sees what ---------------------------------------------------------------------------


def test_the_queue_shows_untaken_cases_and_mine_but_not_another_clinicians(world):
    untaken = submitted_evisit(patient=world.patient)
    theirs = taken_evisit(patient=world.other_patient, clinician=world.other_clinician)
    mine = taken_evisit(patient=world.patient, clinician=world.clinician)
    submitted_evisit(patient=world.outside_patient)
    cases = list(selectors.queue(user=world.clinician, page=1).object_list)
    assert set(cases) == {untaken, mine}
    assert theirs not in selectors.evisits_visible_to(world.clinician)
    assert cases == sorted(cases, key=lambda e: (e.due_at, e.pk))


@pytest.mark.parametrize("who", ["other_clinician", "front_desk", "admin", "other_patient"])
def test_a_case_is_hidden_from_everyone_but_its_patient_and_clinician(client, world, who):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    user = getattr(world, who)
    user = user.user if who == "other_patient" else user
    sign_in(client, user)
    name = "visits:evisit" if who == "other_patient" else "visits:evisit-review"
    response = client.get(reverse(name, args=[evisit.pk]))
    photo = client.get(reverse("visits:evisit-photo", args=[evisit.photos.get().pk]))
    assert response.status_code in (403, 404) and photo.status_code in (403, 404)
    if who in ("other_clinician", "other_patient"):
        assert response.status_code == 404 and photo.status_code == 404


def test_the_clinician_of_another_practice_gets_404(client, world):
    evisit = submitted_evisit(patient=world.patient)
    sign_in(client, world.outside_clinician)
    assert client.get(reverse("visits:evisit-review", args=[evisit.pk])).status_code == 404
    assert client.post(reverse("visits:evisit-assign", args=[evisit.pk])).status_code == 404


# --- Pages -----------------------------------------------------------------------------------


def test_the_patient_fills_the_draft_with_a_camera_photo_and_submits(client, world):
    sign_in(client, world.patient.user)
    page = client.get(reverse("visits:evisits"))
    assert page.status_code == 200
    follow_up = EVisitCondition.objects.get(practice=world.practice, slug="follow-up")
    started = client.post(reverse("visits:evisit-start", args=[follow_up.pk]))
    evisit = EVisit.objects.get(patient=world.patient)
    assert started["Location"] == reverse("visits:evisit", args=[evisit.pk])
    draft = client.get(started["Location"])
    assert b'capture="environment"' in draft.content and b'accept="image/*"' in draft.content
    sent = client.post(
        started["Location"],
        {**FOLLOW_UP_ANSWERS, "photos": [photo_upload()], "action": "submit"},
    )
    assert sent.status_code == 302
    evisit.refresh_from_db()
    assert evisit.state == State.SUBMITTED and evisit.photos.count() == 1
    case = client.get(reverse("visits:evisit", args=[evisit.pk]))
    assert (
        b"Can I stop the cream?" in case.content
        and b'data-evisit-state="submitted"' in case.content
    )
    photo = client.get(reverse("visits:evisit-photo", args=[evisit.photos.get().pk]))
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    assert AuditEvent.objects.filter(
        action="view", object_type="visits.EVisitPhoto", actor=world.patient.user
    ).exists()


def test_a_bad_photo_answers_400_with_the_reason_on_the_page(client, world):
    evisit = services.evisit_start(patient=world.patient, condition=condition(world.practice))
    sign_in(client, world.patient.user)
    fake = SimpleUploadedFile("notes.jpg", b"plain text", "image/jpeg")
    response = client.post(
        reverse("visits:evisit", args=[evisit.pk]),
        {**FOLLOW_UP_ANSWERS, "photos": [fake], "action": "submit"},
    )
    assert response.status_code == 400 and b"notes.jpg" in response.content


def test_the_patient_answers_the_clinicians_question_on_the_case_page(client, world):
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    services.evisit_ask(evisit=evisit, clinician=world.clinician, body="How big is it?")
    sign_in(client, world.patient.user)
    page = client.get(reverse("visits:evisit", args=[evisit.pk]))
    assert b"How big is it?" in page.content
    empty = client.post(reverse("visits:evisit-reply", args=[evisit.pk]), {"body": ""})
    assert empty.status_code == 400
    sent = client.post(reverse("visits:evisit-reply", args=[evisit.pk]), {"body": "Coin-sized"})
    assert sent.status_code == 302
    evisit.refresh_from_db()
    assert evisit.state == State.IN_REVIEW


def test_the_clinician_takes_asks_records_time_and_completes_from_the_pages(client, world):
    evisit = submitted_evisit(patient=world.patient)
    sign_in(client, world.clinician)
    queue = client.get(reverse("visits:evisit-queue"))
    assert queue.status_code == 200 and world.patient.legal_name.encode() in queue.content
    assert client.post(reverse("visits:evisit-assign", args=[evisit.pk])).status_code == 302
    review = client.get(reverse("visits:evisit-review", args=[evisit.pk]))
    assert b"data-photo-zoom" in review.content and b"Can I stop the cream?" in review.content
    today = timezone.localdate(timezone=world.practice.zone).isoformat()
    time = client.post(
        reverse("visits:evisit-time", args=[evisit.pk]),
        {"minutes": "12", "work_date": today, "activity": "Reviewed history"},
    )
    assert time.status_code == 302
    bad_time = client.post(
        reverse("visits:evisit-time", args=[evisit.pk]),
        {"minutes": "-3", "work_date": today, "activity": "x"},
    )
    assert bad_time.status_code == 400
    done = client.post(
        reverse("visits:evisit-complete", args=[evisit.pk]),
        {"assessment": "Healing well", "plan": "Stop the cream", "response": "You can stop it."},
    )
    assert done.status_code == 302
    evisit.refresh_from_db()
    assert evisit.state == State.COMPLETED and selectors.case_minutes(evisit).minutes == 12
    again = client.post(reverse("visits:evisit-ask", args=[evisit.pk]), {"body": "One more thing?"})
    assert again.status_code == 400 and b"completed" in again.content


def test_overdue_cases_are_highlighted_and_the_queue_pages_in_bounded_queries(client, world):
    for _ in range(3):
        submitted_evisit(patient=world.patient, photos=0)
    EVisit.objects.filter(patient=world.patient).update(due_at=timezone.now() - timedelta(hours=2))
    sign_in(client, world.clinician)
    client.get(reverse("visits:evisit-queue"))  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        response = client.get(reverse("visits:evisit-queue"))
    assert response.content.count(b"row--warn") == 3 and b"Overdue by" in response.content
    for _ in range(6):
        submitted_evisit(patient=world.other_patient, photos=0)
    with CaptureQueriesContext(connection) as more:
        client.get(reverse("visits:evisit-queue"))
    assert len(more) == len(few)


def test_staff_other_than_clinicians_are_refused_the_queue(client, world):
    for user in (world.front_desk, world.admin):
        sign_in(client, user)
        assert client.get(reverse("visits:evisit-queue")).status_code == 403


def test_a_clinician_without_a_provider_escalates_to_the_practice_booking_page(world):
    locum = make_staff(world.practice, Role.CLINICIAN, "locum@alpha.test", "Dr Locum")
    evisit = taken_evisit(patient=world.patient, clinician=locum)
    services.evisit_escalate(evisit=evisit, clinician=locum, note="Please come in.")
    notice = OutboundMessage.objects.get(template="evisit.escalated")
    assert settings.SITE_URL + reverse("scheduling:book", args=["alpha"]) in notice.body
