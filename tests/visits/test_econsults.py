"""E-consults: a clinician asks a specialist of the practice about a patient, with copies of
chosen records; the specialist asks back and answers in writing; both record their time for
the interprofessional codes; only those two clinicians see the case."""

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.rules import interprofessional_rules_on
from billing.rules.interprofessional import ConsultMinutes as RuleMinutes
from documents import services as documents
from rpm import services as rpm
from rpm.models import Reading
from telehealth.audit.models import AuditEvent
from telehealth.notify.models import OutboundMessage
from tests.conftest import make_staff, sign_in
from tests.visits.econsult_helpers import QUESTION, sent_econsult, specialist
from tests.visits.evisit_helpers import taken_evisit
from visits import econsult_selectors as selectors
from visits import econsult_services as services
from visits.models import EConsult, EConsultMessage, EConsultRecord, EConsultTime

State = EConsult.State
pytestmark = pytest.mark.django_db


@pytest.fixture
def world(module_world):
    return module_world


@pytest.fixture
def spec(world):
    """world.other_clinician answers e-consults in cardiology (not on world.patient's team)."""
    return specialist(world.other_clinician)


def add_readings(patient, by):
    device, _token = rpm.device_create(patient=patient, kind="bp_cuff", by=by, serial="SN-1")
    now = timezone.now()
    for hours, (high, low) in enumerate([(152, 95), (148, 92)]):
        at = now - timedelta(hours=hours + 1)
        Reading.objects.create(
            patient=patient, device=device, vital="systolic", value=high, measured_at=at
        )
        Reading.objects.create(
            patient=patient, device=device, vital="diastolic", value=low, measured_at=at
        )


def share_pdf(world, title="Echo report March"):
    return documents.document_share(
        patient=world.patient,
        by=world.clinician,
        kind="imaging_report",
        title=title,
        upload=SimpleUploadedFile("echo.pdf", b"%PDF-1.4 echo: EF 55%"),
    )


def answer(econsult, by, *, verbal=False):
    return services.econsult_answer(
        econsult=econsult, specialist=by, answer="Add amlodipine 5 mg.", verbal_report=verbal
    )


def log(econsult, by, minutes, *, discussion=False):
    return services.econsult_time_record(
        econsult=econsult,
        clinician=by,
        minutes=minutes,
        work_date=timezone.localdate(timezone=econsult.practice.zone),
        activity="Reviewed readings",
        discussion=discussion,
    )


# --- The whole life of a case ----------------------------------------------------------------


def test_the_whole_life_of_a_case_with_records_a_question_back_and_an_answer(world, spec):
    add_readings(world.patient, world.clinician)
    document = share_pdf(world)
    photo = taken_evisit(patient=world.patient, clinician=world.clinician).photos.get()
    offered = [
        o.key for o in selectors.records_offered(user=world.clinician, patient=world.patient)
    ]
    assert {"vitals", "readings", f"photo:{photo.pk}", f"document:{document.pk}"} <= set(offered)

    econsult = services.econsult_send(
        requester=world.clinician,
        patient=world.patient,
        specialist=spec,
        question=QUESTION,
        record_keys=["readings", f"document:{document.pk}", "vitals", f"photo:{photo.pk}"],
        patient_consented=True,
    )
    assert econsult.state == State.SENT and econsult.specialty == "Cardiology"
    records = list(econsult.records.all())
    # In the order offered, whatever order they were ticked in.
    assert [r.kind for r in records] == ["vitals", "readings", "photo", "document"]
    vitals, readings, photo_copy, document_copy = records
    assert any("152" in value for _label, value in vitals.rows)
    assert len(readings.rows) == 4
    assert photo_copy.content_type == "image/jpeg" and photo_copy.file.name.startswith("econsults/")
    with document_copy.file.open("rb") as opened:
        assert opened.read() == b"%PDF-1.4 echo: EF 55%"
    sent_notice = OutboundMessage.objects.get(template="econsult.sent")
    assert sent_notice.staff == world.other_clinician and sent_notice.patient is None
    assert world.patient.legal_name not in sent_notice.body and "blood" not in sent_notice.body
    assert reverse("visits:econsult", args=[econsult.pk]) in sent_notice.body

    services.econsult_ask(econsult=econsult, specialist=world.other_clinician, body="Any edema?")
    econsult.refresh_from_db()
    assert econsult.state == State.INFO_REQUESTED
    assert OutboundMessage.objects.get(template="econsult.question").staff == world.clinician

    services.econsult_reply(econsult=econsult, requester=world.clinician, body="None.")
    econsult.refresh_from_db()
    assert econsult.state == State.SENT
    assert OutboundMessage.objects.filter(template="econsult.reply").count() == 1

    answer(econsult, world.other_clinician, verbal=True)
    econsult.refresh_from_db()
    assert econsult.state == State.ANSWERED and econsult.answered_at is not None
    assert econsult.verbal_report and econsult.answer == "Add amlodipine 5 mg."
    assert [m.kind for m in selectors.messages_of(econsult)] == ["question", "reply"]
    assert OutboundMessage.objects.get(template="econsult.answered").staff == world.clinician
    details = set(
        AuditEvent.objects.filter(
            object_type="visits.EConsult", object_id=str(econsult.pk)
        ).values_list("detail", flat=True)
    )
    assert "sent with 4 record(s); patient consent noted" in details
    assert "answered, verbal report too" in details


def test_the_requester_opening_the_answer_marks_it_read_once(client, world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    sign_in(client, world.other_clinician)
    client.get(reverse("visits:econsult", args=[econsult.pk]))
    answer(econsult, world.other_clinician)
    client.get(reverse("visits:econsult", args=[econsult.pk]))  # the specialist: not a read
    econsult.refresh_from_db()
    assert econsult.answer_read_at is None
    assert econsult in selectors.inbox(user=world.clinician).sent
    sign_in(client, world.clinician)
    page = client.get(reverse("visits:econsult", args=[econsult.pk]))
    assert b"Add amlodipine 5 mg." in page.content
    econsult.refresh_from_db()
    first = econsult.answer_read_at
    assert first is not None
    client.get(reverse("visits:econsult", args=[econsult.pk]))
    econsult.refresh_from_db()
    assert econsult.answer_read_at == first


def test_the_question_answer_and_copies_are_encrypted_at_rest(world, spec):
    add_readings(world.patient, world.clinician)
    econsult = sent_econsult(
        patient=world.patient,
        requester=world.clinician,
        to=world.other_clinician,
        records=["vitals"],
    )
    answer(econsult, world.other_clinician)
    with connection.cursor() as cursor:
        cursor.execute("SELECT question, answer FROM visits_econsult WHERE id = %s", [econsult.pk])
        raw = " ".join(cursor.fetchone())
        cursor.execute(
            "SELECT title, rows FROM visits_econsultrecord WHERE econsult_id = %s", [econsult.pk]
        )
        raw += " ".join(str(v) for v in cursor.fetchone())
    assert "blood pressure" not in raw and "amlodipine" not in raw
    assert "152" not in raw and "Latest vitals" not in raw


def test_a_document_withdrawn_after_sending_still_reads_as_sent(world, spec):
    document = share_pdf(world)
    econsult = sent_econsult(
        patient=world.patient,
        requester=world.clinician,
        to=world.other_clinician,
        records=[f"document:{document.pk}"],
    )
    documents.document_withdraw(document=document, by=world.clinician)
    with econsult.records.get().file.open("rb") as opened:
        assert opened.read().startswith(b"%PDF-1.4 echo")


# --- Bad input: refused with a reason, nothing written ---------------------------------------


def nothing_written():
    return (
        not EConsult.objects.exists()
        and not EConsultRecord.objects.exists()
        and not OutboundMessage.objects.filter(template__startswith="econsult.").exists()
    )


@pytest.mark.parametrize(
    "problem",
    ["no consent", "empty question", "not accepting", "to oneself", "not my patient", "record"],
)
def test_a_send_that_breaks_a_rule_is_refused_and_writes_nothing(world, spec, problem):
    kwargs = {
        "requester": world.clinician,
        "patient": world.patient,
        "specialist": spec,
        "question": QUESTION,
        "record_keys": [],
        "patient_consented": True,
    }
    if problem == "no consent":
        kwargs["patient_consented"] = False
    elif problem == "empty question":
        kwargs["question"] = "   "
    elif problem == "not accepting":
        services.specialist_profile_save(
            user=world.other_clinician, specialty="Cardiology", accepting=False
        )
    elif problem == "to oneself":
        kwargs["specialist"] = specialist(world.clinician)
    elif problem == "not my patient":  # the specialist asks about a patient not on their team
        kwargs["requester"], kwargs["specialist"] = (
            world.other_clinician,
            specialist(world.clinician),
        )
    elif problem == "record":  # another patient's photo, taken by the same clinician
        other = taken_evisit(patient=world.other_patient, clinician=world.clinician)
        kwargs["record_keys"] = [f"photo:{other.photos.get().pk}"]
    with pytest.raises(services.EConsultError):
        services.econsult_send(**kwargs)
    assert nothing_written()


def test_a_specialist_of_another_practice_cannot_be_chosen(world):
    theirs = specialist(world.outside_clinician)
    with pytest.raises(services.EConsultError):
        services.econsult_send(
            requester=world.clinician,
            patient=world.patient,
            specialist=theirs,
            question=QUESTION,
            record_keys=[],
            patient_consented=True,
        )
    assert nothing_written()


@pytest.mark.parametrize(
    ("act", "state"),
    [
        ("ask", State.INFO_REQUESTED),
        ("ask", State.ANSWERED),
        ("reply", State.SENT),
        ("answer", State.ANSWERED),
    ],
)
def test_moves_the_state_machine_does_not_allow_are_refused(world, spec, act, state):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    EConsult.objects.filter(pk=econsult.pk).update(
        state=state, answered_at=timezone.now() if state == State.ANSWERED else None
    )
    calls = {
        "ask": lambda: services.econsult_ask(
            econsult=econsult, specialist=world.other_clinician, body="q"
        ),
        "reply": lambda: services.econsult_reply(
            econsult=econsult, requester=world.clinician, body="r"
        ),
        "answer": lambda: answer(econsult, world.other_clinician),
    }
    with pytest.raises(services.EConsultError):
        calls[act]()
    econsult.refresh_from_db()
    assert econsult.state == state and not EConsultMessage.objects.exists()


def test_only_the_specialist_asks_and_answers_and_only_the_requester_replies(world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    with pytest.raises(services.EConsultError):
        services.econsult_ask(econsult=econsult, specialist=world.clinician, body="q")
    with pytest.raises(services.EConsultError):
        answer(econsult, world.clinician)
    services.econsult_ask(econsult=econsult, specialist=world.other_clinician, body="q")
    with pytest.raises(services.EConsultError):
        services.econsult_reply(econsult=econsult, requester=world.other_clinician, body="r")
    econsult.refresh_from_db()
    assert econsult.state == State.INFO_REQUESTED and EConsultMessage.objects.count() == 1


@pytest.mark.parametrize(
    "problem", ["zero", "too many", "tomorrow", "before it was sent", "requester discussion"]
)
def test_time_that_breaks_a_rule_is_refused(world, spec, problem):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    today = timezone.localdate(timezone=world.practice.zone)
    kwargs: dict[str, Any] = {
        "econsult": econsult,
        "clinician": world.other_clinician,
        "minutes": 10,
        "work_date": today,
        "activity": "Reviewed",
    }
    changes: dict[str, dict[str, Any]] = {
        "zero": {"minutes": 0},
        "too many": {"minutes": 241},
        "tomorrow": {"work_date": today + timedelta(days=1)},
        "before it was sent": {"work_date": today - timedelta(days=1)},
        "requester discussion": {"clinician": world.clinician, "discussion": True},
    }
    kwargs.update(changes[problem])
    with pytest.raises(services.EConsultError):
        services.econsult_time_record(**kwargs)
    assert not EConsultTime.objects.exists()


def test_a_third_clinician_cannot_record_time(world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    third = make_staff(world.practice, "clinician", "doc3@alpha.test", "Dr Third")
    with pytest.raises(services.EConsultError):
        log(econsult, third, 10)
    assert not EConsultTime.objects.exists()


# --- Time and the interprofessional codes ----------------------------------------------------


@pytest.mark.parametrize(
    ("specialist_entries", "verbal", "requester_entries", "codes"),
    [
        ([(4, True)], True, [], ()),  # under 5 minutes: no consultant code
        ([(3, True), (3, False)], True, [], ("99451",)),  # discussion is not MORE than half
        ([(4, True), (3, False)], True, [], ("99446",)),  # 7 min, 4 discussed, verbal
        ([(10, True)], True, [], ("99446",)),  # 10: top of 99446
        ([(8, True), (3, True)], True, [10, 6], ("99447", "99452")),  # 11; requester 16
        ([(20, True)], True, [15], ("99447",)),  # 20: top of 99447; requester 15: none
        ([(16, True), (5, False)], True, [], ("99448",)),  # 21
        ([(30, True)], True, [], ("99448",)),  # 30: top of 99448
        ([(25, True), (6, False)], True, [45], ("99449", "99452")),  # 31; one 99452 unit
        ([(31, True)], False, [], ("99451",)),  # no verbal report: written only
        ([(5, False)], False, [16], ("99451", "99452")),  # written only from 5 minutes
    ],
)
def test_minutes_from_both_sides_give_the_interprofessional_codes(
    world, spec, specialist_entries, verbal, requester_entries, codes
):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    for minutes, discussion in specialist_entries:
        log(econsult, world.other_clinician, minutes, discussion=discussion)
    for minutes in requester_entries:
        log(econsult, world.clinician, minutes)
    answer(econsult, world.other_clinician, verbal=verbal)
    econsult.refresh_from_db()
    counted = selectors.consult_minutes(econsult)
    assert counted.specialist == sum(m for m, _d in specialist_entries)
    assert counted.requester == sum(requester_entries)
    rules = interprofessional_rules_on(timezone.localdate())
    assert rules.codes(RuleMinutes(**vars(counted))) == codes


def test_no_consultant_code_before_the_written_answer(world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    log(econsult, world.other_clinician, 25, discussion=True)
    log(econsult, world.clinician, 20)
    counted = selectors.consult_minutes(econsult)
    assert not counted.answered
    rules = interprofessional_rules_on(timezone.localdate())
    assert rules.codes(RuleMinutes(**vars(counted))) == ("99452",)


# --- Who sees what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["third_clinician", "patient", "front_desk", "admin", "outside_clinician"]
)
def test_a_case_is_hidden_from_everyone_but_its_two_clinicians(client, world, spec, who):
    photo = taken_evisit(patient=world.patient, clinician=world.clinician).photos.get()
    econsult = sent_econsult(
        patient=world.patient,
        requester=world.clinician,
        to=world.other_clinician,
        records=[f"photo:{photo.pk}"],
    )
    record = econsult.records.get()
    if who == "third_clinician":
        user = make_staff(world.practice, "clinician", "doc3@alpha.test", "Dr Third")
    elif who == "patient":
        user = world.patient.user
    else:
        user = getattr(world, who)
    sign_in(client, user)
    page = client.get(reverse("visits:econsult", args=[econsult.pk]))
    file = client.get(reverse("visits:econsult-file", args=[record.pk]))
    inbox = client.get(reverse("visits:econsults"))
    assert page.status_code in (403, 404) and file.status_code in (403, 404)
    if who in ("third_clinician", "outside_clinician"):
        assert page.status_code == 404 and file.status_code == 404
        assert world.patient.legal_name.encode() not in inbox.content
    else:
        assert page.status_code == 403 and inbox.status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    response = client.get(reverse("visits:econsult", args=[econsult.pk]))
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("accounts:login")
    )


def test_the_specialist_reads_the_copies_but_not_the_chart(client, world, spec):
    photo = taken_evisit(patient=world.patient, clinician=world.clinician).photos.get()
    econsult = sent_econsult(
        patient=world.patient,
        requester=world.clinician,
        to=world.other_clinician,
        records=[f"photo:{photo.pk}"],
    )
    sign_in(client, world.other_clinician)
    page = client.get(reverse("visits:econsult", args=[econsult.pk]))
    assert page.status_code == 200 and QUESTION.encode() in page.content
    file = client.get(reverse("visits:econsult-file", args=[econsult.records.get().pk]))
    assert file.status_code == 200 and file["Content-Type"] == "image/jpeg"
    assert file["Content-Security-Policy"].startswith("default-src 'none'")
    assert AuditEvent.objects.filter(
        action="view", object_type="visits.EConsultRecord", actor=world.other_clinician
    ).exists()
    chart = client.get(reverse("accounts:patient-chart", args=[world.patient.pk]))
    assert chart.status_code == 302  # to emergency access: the e-consult opens no chart
    assert chart["Location"] == reverse("accounts:break-glass", args=[world.patient.pk])
    photo_direct = client.get(reverse("visits:evisit-photo", args=[photo.pk]))
    assert photo_direct.status_code == 404


def test_the_inbox_lists_received_and_sent_cases_for_their_clinicians_only(client, world, spec):
    mine = sent_econsult(patient=world.patient, requester=world.clinician, to=world.other_clinician)
    specialist(world.clinician, "Endocrinology")
    from telehealth.accounts import services as accounts
    from telehealth.accounts.models import CareTeamReason

    accounts.care_team_add(
        patient=world.other_patient,
        clinician=world.other_clinician,
        reason=CareTeamReason.ASSIGNED,
        by=None,
    )
    theirs = sent_econsult(
        patient=world.other_patient, requester=world.other_clinician, to=world.clinician
    )
    found = selectors.inbox(user=world.clinician)
    assert found.received == [theirs] and found.sent == [mine]
    sign_in(client, world.clinician)
    page = client.get(reverse("visits:econsults"))
    assert page.status_code == 200
    assert world.patient.legal_name.encode() in page.content
    assert world.other_patient.legal_name.encode() in page.content


# --- Pages -----------------------------------------------------------------------------------


def test_the_requester_sends_from_the_new_page_and_a_bad_post_is_a_400(client, world, spec):
    add_readings(world.patient, world.clinician)
    sign_in(client, world.clinician)
    url = reverse("visits:econsult-new", args=[world.patient.pk])
    page = client.get(url)
    assert page.status_code == 200 and b"Cardiology" in page.content
    assert b'value="vitals"' in page.content
    data = {"specialist": spec.pk, "question": QUESTION, "records": ["vitals"]}
    refused = client.post(url, data)  # consent not ticked
    assert refused.status_code == 400 and b"patient agreed" in refused.content
    unknown = client.post(url, {**data, "records": ["photo:999999"], "patient_consented": "on"})
    assert unknown.status_code == 400
    assert nothing_written()
    sent = client.post(url, {**data, "patient_consented": "on"})
    econsult = EConsult.objects.get()
    assert sent.status_code == 302 and sent["Location"] == reverse(
        "visits:econsult", args=[econsult.pk]
    )
    assert econsult.records.get().kind == "vitals"


def test_the_specialist_asks_answers_and_records_time_from_the_case_page(client, world, spec):
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    sign_in(client, world.other_clinician)
    url = lambda name: reverse(f"visits:{name}", args=[econsult.pk])  # noqa: E731
    assert client.post(url("econsult-ask"), {"body": ""}).status_code == 400
    assert client.post(url("econsult-reply"), {"body": "Not mine"}).status_code == 400
    today = timezone.localdate(timezone=world.practice.zone).isoformat()
    logged = client.post(
        url("econsult-time"),
        {"minutes": "12", "work_date": today, "activity": "Call", "discussion": "on"},
    )
    assert logged.status_code == 302
    bad = client.post(url("econsult-time"), {"minutes": "-1", "work_date": today, "activity": "x"})
    assert bad.status_code == 400
    done = client.post(url("econsult-answer"), {"answer": "Add amlodipine.", "verbal_report": "on"})
    assert done.status_code == 302
    econsult.refresh_from_db()
    assert econsult.state == State.ANSWERED and econsult.verbal_report
    assert selectors.consult_minutes(econsult).specialist_discussion == 12
    again = client.post(url("econsult-answer"), {"answer": "Changed my mind"})
    assert again.status_code == 400 and b"answered" in again.content
    econsult.refresh_from_db()
    assert econsult.answer == "Add amlodipine."


def test_a_clinician_turns_on_answering_econsults_from_the_profile_page(client, world):
    sign_in(client, world.other_clinician)
    url = reverse("visits:econsult-profile")
    assert client.post(url, {"specialty": "", "accepting": "on"}).status_code == 400
    assert client.post(url, {"specialty": "Dermatology", "accepting": "on"}).status_code == 302
    offered = selectors.specialists_for(world.clinician)
    assert [s.specialty for s in offered] == ["Dermatology"]
    assert settings.SITE_URL  # links in notices are absolute (case_url)


def test_the_inbox_answers_in_the_same_queries_for_two_cases_or_six(
    client, world, spec, without_session_cache
):
    for _ in range(2):
        sent_econsult(patient=world.patient, requester=world.clinician, to=world.other_clinician)
    sign_in(client, world.other_clinician)
    client.get(reverse("visits:econsults"))  # warm whatever is cached per process
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("visits:econsults")).status_code == 200
    for _ in range(4):
        sent_econsult(patient=world.patient, requester=world.clinician, to=world.other_clinician)
    with CaptureQueriesContext(connection) as more:
        page = client.get(reverse("visits:econsults"))
    assert page.content.count(b'data-econsult-state="sent"') == 6
    assert len(more) == len(few)
