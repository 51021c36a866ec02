"""Post-visit surveys: created once per ended video visit, answered once through the signed
link or the portal, review requests only where the practice, the rating and the patient allow."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from feedback import links as feedback_links
from feedback import selectors, services
from feedback.models import FeedbackSettings, Survey
from scheduling.models import Appointment
from telehealth import links
from telehealth.audit.models import Action, AuditEvent
from telehealth.notify.models import OutboundMessage, PhoneOptOut
from telehealth.notify.services import render_for_send
from tests.conftest import sign_in
from tests.core.test_access_matrix import make_appointment
from tests.feedback.helpers import ended_visit, survey_of


@pytest.fixture
def world(module_world):
    return module_world


@pytest.fixture
def reviews_on(world):
    return FeedbackSettings.objects.create(
        practice=world.practice,
        review_url="https://g.page/r/alpha-health/review",
        invite_reviews=True,
    )


def answer(client, url, **overrides):
    data = {"satisfaction": "5", "ease": "4", "comment": "Lovely doctor"} | overrides
    return client.post(url, data)


def review_messages(patient):
    return OutboundMessage.objects.filter(patient=patient, template="feedback.review")


# Creating surveys


def test_an_ended_video_visit_gets_one_survey_and_one_invitation_an_hour_later(world):
    visit = ended_visit(world.patient, ended_ago=timedelta(minutes=10))
    assert services.surveys_create_due() == 1
    assert services.surveys_create_due() == 0
    survey = Survey.objects.get(visit=visit)
    message = OutboundMessage.objects.get(template="feedback.survey")
    assert message.patient == world.patient
    assert message.render_at_send
    assert message.send_at == visit.ended_at + services.SURVEY_DELAY
    render_for_send(message)
    token = message.body.split("/feedback/s/")[1].split("/")[0]
    assert links.read(feedback_links.SURVEY, token) == survey


def test_phone_visits_and_visits_ended_long_ago_get_no_survey(world):
    appointment = make_appointment(world.patient)
    Appointment.objects.filter(pk=appointment.pk).update(modality="phone")
    phone = ended_visit(world.patient)
    phone.appointment = appointment
    phone.save(update_fields=["appointment"])
    ended_visit(world.patient, ended_ago=services.LOOKBACK + timedelta(hours=1))
    assert services.surveys_create_due() == 0
    assert not Survey.objects.exists()


def test_a_patient_nothing_reaches_still_gets_a_survey_in_the_portal(world):
    world.patient.email = ""
    world.patient.sms_consent = False
    world.patient.save()
    ended_visit(world.patient)
    assert services.surveys_create_due() == 1
    assert not OutboundMessage.objects.filter(template="feedback.survey").exists()


def test_the_invitation_is_withdrawn_when_answered_in_the_portal_first(world):
    ended_visit(world.patient)
    services.surveys_create_due()
    survey = Survey.objects.get()
    services.survey_answer(
        survey=survey, satisfaction=4, ease=4, comment="", no_review_requests=False
    )
    message = OutboundMessage.objects.get(template="feedback.survey")
    with pytest.raises(Exception, match="answered"):
        render_for_send(message)


# Answering by the signed link


def test_the_link_opens_the_survey_without_sign_in_and_answers_it_once(client, world):
    survey = survey_of(world.patient)
    url = reverse("feedback:survey-link", args=[links.token_for(feedback_links.SURVEY, survey)])
    page = client.get(url)
    assert page.status_code == 200
    assert "How satisfied are you with your visit?" in page.content.decode()
    assert answer(client, url, no_review_requests="on").status_code == 200
    survey.refresh_from_db()
    assert (survey.satisfaction, survey.ease, survey.comment) == (5, 4, "Lovely doctor")
    assert survey.no_review_requests
    assert AuditEvent.objects.about_record(survey).filter(action=Action.UPDATE).exists()
    again = client.get(url)
    assert again.status_code == 410
    assert "already been answered" in again.content.decode()
    assert answer(client, url, satisfaction="1").status_code == 410
    survey.refresh_from_db()
    assert survey.satisfaction == 5


def test_an_expired_or_tampered_link_opens_nothing(client, world):
    survey = survey_of(world.patient)
    old = timezone.now() - feedback_links.LIFETIME - timedelta(minutes=1)
    with mock.patch("time.time", return_value=old.timestamp()):
        token = links.token_for(feedback_links.SURVEY, survey)
    assert client.get(reverse("feedback:survey-link", args=[token])).status_code == 410
    other = signing.dumps({"s": survey.pk, "n": 1}, salt="visits.summary")
    assert client.get(reverse("feedback:survey-link", args=[other])).status_code == 410


@pytest.mark.parametrize(
    "bad",
    [
        {"satisfaction": "7"},
        {"satisfaction": ""},
        {"ease": "0"},
        {"ease": "x"},
        {"comment": "x" * 2001},
    ],
)
def test_bad_answers_are_400_and_write_nothing(client, world, bad):
    survey = survey_of(world.patient)
    url = reverse("feedback:survey-link", args=[links.token_for(feedback_links.SURVEY, survey)])
    assert answer(client, url, **bad).status_code == 400
    survey.refresh_from_db()
    assert survey.answered_at is None and survey.satisfaction is None


def test_the_portal_survey_is_the_patients_own_and_listed_on_their_home(client, world):
    survey = survey_of(world.patient)
    sign_in(client, world.patient.user)
    assert (
        reverse("feedback:survey", args=[survey.pk]) in client.get(reverse("home")).content.decode()
    )
    assert answer(client, reverse("feedback:survey", args=[survey.pk])).status_code == 200
    survey.refresh_from_db()
    assert survey.satisfaction == 5
    other = survey_of(world.other_patient)
    assert client.get(reverse("feedback:survey", args=[other.pk])).status_code == 404


# Review requests


def test_a_happy_respondent_is_invited_to_review_once_a_year(world, reviews_on):
    first = survey_of(world.patient)
    services.survey_answer(
        survey=first, satisfaction=5, ease=5, comment="", no_review_requests=False
    )
    message = review_messages(world.patient).get()
    assert reviews_on.review_url in message.body
    second = survey_of(world.patient)
    services.survey_answer(
        survey=second, satisfaction=4, ease=5, comment="", no_review_requests=False
    )
    assert review_messages(world.patient).count() == 1
    Survey.objects.filter(pk=first.pk).update(
        review_requested_at=timezone.now() - timedelta(days=366)
    )
    third = survey_of(world.patient)
    services.survey_answer(
        survey=third, satisfaction=4, ease=5, comment="", no_review_requests=False
    )
    assert review_messages(world.patient).count() == 2


@pytest.mark.parametrize("rating", [1, 2, 3])
def test_an_unhappy_respondent_is_never_invited_automatically(world, reviews_on, rating):
    survey = survey_of(world.patient)
    services.survey_answer(
        survey=survey, satisfaction=rating, ease=5, comment="", no_review_requests=False
    )
    assert not review_messages(world.patient).exists()


def test_no_invitation_when_the_practice_does_not_ask_or_the_patient_declined(world, reviews_on):
    survey = survey_of(world.patient)
    services.survey_answer(
        survey=survey, satisfaction=5, ease=5, comment="", no_review_requests=True
    )
    later = survey_of(world.patient)
    services.survey_answer(
        survey=later, satisfaction=5, ease=5, comment="", no_review_requests=False
    )
    assert not review_messages(world.patient).exists()
    FeedbackSettings.objects.filter(pk=reviews_on.pk).update(invite_reviews=False)
    happy = survey_of(world.other_patient)
    services.survey_answer(
        survey=happy, satisfaction=5, ease=5, comment="", no_review_requests=False
    )
    assert not review_messages(world.other_patient).exists()


def test_a_texted_patient_who_sent_stop_gets_no_review_request(world, reviews_on):
    patient = world.patient
    patient.email = ""
    patient.preferred_channel = "sms"
    patient.sms_consent = True
    patient.sms_consent_at = timezone.now()
    patient.save()
    PhoneOptOut.objects.create(phone_index=patient.phone_index, source="sms")
    survey = survey_of(patient)
    services.survey_answer(
        survey=survey, satisfaction=5, ease=5, comment="", no_review_requests=False
    )
    assert not review_messages(patient).exists()
    survey.refresh_from_db()
    assert survey.review_requested_at is None


def test_staff_may_send_one_unhappy_respondent_a_request_audited(client, world, reviews_on):
    survey = survey_of(world.patient, satisfaction=2)
    sign_in(client, world.admin)
    url = reverse("feedback:review-request", args=[survey.pk])
    assert client.post(url).status_code == 302
    assert review_messages(world.patient).count() == 1
    survey.refresh_from_db()
    assert survey.review_requested_by == world.admin
    event = AuditEvent.objects.about_record(survey).get(action=Action.CREATE)
    assert event.actor == world.admin
    again = client.post(url, follow=True)
    assert "less than 365 days ago" in again.content.decode()
    assert review_messages(world.patient).count() == 1


def test_staff_cannot_send_to_a_patient_who_declined(client, world, reviews_on):
    survey = survey_of(world.patient, satisfaction=5, no_review_requests=True)
    sign_in(client, world.admin)
    page = client.post(reverse("feedback:review-request", args=[survey.pk]), follow=True)
    assert "asked not to be asked" in page.content.decode()
    assert not review_messages(world.patient).exists()


def test_reading_the_answers_is_audited_per_survey(client, world):
    survey = survey_of(world.patient, satisfaction=3, comment="The sound kept dropping")
    sign_in(client, world.admin)
    page = client.get(reverse("feedback:responses"))
    assert "The sound kept dropping" in page.content.decode()
    assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]
    assert AuditEvent.objects.about_record(survey).filter(action=Action.VIEW).exists()


def test_the_comment_is_encrypted_at_rest(world):
    survey = survey_of(world.patient, satisfaction=4, comment="secret-comment-text")
    with connection.cursor() as cursor:
        cursor.execute("SELECT comment FROM feedback_survey WHERE id = %s", [survey.pk])
        stored = cursor.fetchone()[0]
    assert "secret-comment-text" not in stored


# Settings


def test_settings_need_an_https_review_page(client, world):
    sign_in(client, world.admin)
    url = reverse("feedback:settings")
    for bad in ("http://example.com/review", "not a url", "javascript:alert(1)"):
        page = client.post(url, {"review_url": bad, "review_interval_days": "365"})
        assert page.status_code == 400, bad
    page = client.post(url, {"invite_reviews": "on", "review_interval_days": "365"})
    assert page.status_code == 400
    assert (
        client.post(
            url, {"review_url": "https://x.test/r", "review_interval_days": "5"}
        ).status_code
        == 400
    )
    assert not FeedbackSettings.objects.exists()
    good = {
        "review_url": "https://g.page/r/x",
        "invite_reviews": "on",
        "review_interval_days": "180",
    }
    assert client.post(url, good).status_code == 302
    saved = FeedbackSettings.objects.get(practice=world.practice)
    assert (saved.review_url, saved.invite_reviews, saved.review_interval_days) == (
        "https://g.page/r/x",
        True,
        180,
    )


# Figures


def test_survey_facts_known_answers_in_one_query(world):
    survey_of(world.patient, satisfaction=5, ease=4)
    survey_of(world.patient, satisfaction=2, ease=1)
    survey_of(world.other_patient)
    survey_of(world.outside_patient, satisfaction=1)
    start, end = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1)
    with CaptureQueriesContext(connection) as queries:
        facts = selectors.survey_facts(user=world.admin, start=start, end=end)
    assert len(queries) == 1
    assert sorted((f.answered, f.satisfaction, f.ease) for f in facts) == [
        (False, None, None),
        (True, 2, 1),
        (True, 5, 4),
    ]
    assert selectors.survey_facts(user=world.clinician, start=start, end=end) == []


def test_the_admins_home_links_the_answers_and_the_review_settings(client, world):
    sign_in(client, world.admin)
    page = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("feedback:responses")}"' in page
    assert f'href="{reverse("feedback:settings")}"' in page
