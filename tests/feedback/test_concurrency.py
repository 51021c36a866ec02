"""Concurrent runs of the survey job, and concurrent answers of one patient, on PostgreSQL."""

import threading

import pytest
from django.db import connection

from feedback import services
from feedback.models import FeedbackSettings, Survey
from telehealth.notify.models import OutboundMessage
from tests.feedback.helpers import ended_visit, survey_of

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = 8  # connections are shared on this machine


def at_once(work) -> list[str]:
    barrier = threading.Barrier(RUNS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait()
            result = str(work(index))
        except Exception as exc:  # shown by the assertions
            result = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_survey_jobs_make_one_survey_and_one_invitation_per_visit(
    require_postgres, world
):
    visits = [ended_visit(world.patient), ended_visit(world.other_patient)]
    outcomes = at_once(lambda _i: services.surveys_create_due())
    assert sum(int(n) for n in outcomes) == 2, outcomes
    assert Survey.objects.filter(visit__in=visits).count() == 2
    assert OutboundMessage.objects.filter(template="feedback.survey").count() == 2


def test_concurrent_happy_answers_of_one_patient_send_one_review_request(require_postgres, world):
    FeedbackSettings.objects.create(
        practice=world.practice, review_url="https://g.page/r/alpha", invite_reviews=True
    )
    surveys = [survey_of(world.patient) for _ in range(RUNS)]

    def answer(index: int) -> str:
        services.survey_answer(
            survey=surveys[index], satisfaction=5, ease=5, comment="", no_review_requests=False
        )
        return "answered"

    assert at_once(answer) == ["answered"] * RUNS
    assert OutboundMessage.objects.filter(template="feedback.review").count() == 1
    assert Survey.objects.filter(review_requested_at__isnull=False).count() == 1
