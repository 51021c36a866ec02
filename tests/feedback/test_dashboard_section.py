"""The Feedback section of the practice dashboard: known answers, filters, CSV, query count."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from telehealth.accounts.models import Provider
from tests.conftest import sign_in
from tests.feedback.helpers import survey_of


@pytest.fixture
def world(module_world):
    return module_world


@pytest.fixture
def surveyed(world):
    second = Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    first = world.clinician.provider
    survey_of(world.patient, satisfaction=5, ease=4)
    survey_of(world.patient, satisfaction=4, ease=2)
    survey_of(world.other_patient)  # not answered
    survey_of(world.other_patient, satisfaction=1, ease=1).__class__.objects.filter(
        satisfaction=1
    ).update(provider=second, review_requested_at=timezone.now())
    survey_of(world.outside_patient, satisfaction=1, ease=1)  # another practice
    return first, second


def test_the_section_shows_rate_averages_distribution_and_providers(client, world, surveyed):
    sign_in(client, world.admin)
    page = client.get(reverse("analytics:dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    section = html[html.index('id="feedback"') :]
    assert "Patient feedback" in section
    assert "75.0 %" in section  # 3 of 4 answered
    assert "3.3" in section  # satisfaction (5 + 4 + 1) / 3
    assert "2.3" in section  # ease (4 + 2 + 1) / 3
    assert "<svg" in section and "Satisfaction ratings" in section
    csv = client.get(reverse("analytics:table-csv", args=["feedback", "feedback-providers"]))
    assert csv.status_code == 200
    lines = csv.content.decode().strip().splitlines()
    assert lines[1:] == ["Dr Alpha,3,66.7 %,4.5,3.0", "Dr Second,1,100.0 %,1.0,1.0"]
    ratings = client.get(reverse("analytics:table-csv", args=["feedback", "feedback-ratings"]))
    assert ratings.content.decode().strip().splitlines()[1:] == [
        "5,1,0",
        "4,1,1",
        "3,0,0",
        "2,0,1",
        "1,1,1",
    ]


def test_the_provider_filter_narrows_the_section(client, world, surveyed):
    _first, second = surveyed
    sign_in(client, world.admin)
    csv = client.get(
        reverse("analytics:table-csv", args=["feedback", "feedback-providers"]),
        {"provider": second.pk},
    )
    assert csv.content.decode().strip().splitlines()[1:] == ["Dr Second,1,100.0 %,1.0,1.0"]
    assert client.get(reverse("analytics:table-csv", args=["feedback", "x"])).status_code == 404


def test_the_sections_query_count_does_not_grow_with_surveys(
    client, world, surveyed, without_session_cache
):
    sign_in(client, world.admin)
    url = reverse("analytics:table-csv", args=["feedback", "feedback-ratings"])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(5):
        survey_of(world.patient, satisfaction=3, ease=3)
    with CaptureQueriesContext(connection) as more:
        assert client.get(url).status_code == 200
    assert len(more) == len(few)
