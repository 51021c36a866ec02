"""Completed e-visits become encounters once their 7-day period has closed, coded from the
minutes recorded on the case; the clinician sees the codes on the case page."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import evisit_services, tasks
from billing.models import Encounter, FeeScheduleEntry
from billing.views.evisits import evisit_case_panel
from telehealth.audit.models import AuditEvent
from tests.billing.test_encounters import billing_set_up, ended_visit, insurance_card
from tests.clock import local_days_ago
from tests.conftest import make_staff, sign_in
from tests.visits.evisit_helpers import taken_evisit
from visits import evisit_panels
from visits import evisit_services as visit_services
from visits.models import EVisit, Visit


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


def set_up(world, *, payer_kind="medicare"):
    billing_set_up(world, payer_kind=payer_kind)
    insurance_card(world.patient)
    for code, charge in {
        "99421": "30.00",
        "99422": "55.00",
        "99423": "80.00",
        "G2010": "12.00",
    }.items():
        FeeScheduleEntry.objects.create(
            practice=world.practice,
            code=code,
            charge=Decimal(charge),
            effective_from=date(2025, 1, 1),
        )


def seen_long_ago(world, video_type):
    """A live visit 60 days ago: the patient is established, and it is not a related visit."""
    visit = ended_visit(world, video_type, minutes=20)
    long_ago = timezone.now() - timedelta(days=60)
    Visit.objects.filter(pk=visit.pk).update(started_at=long_ago, ended_at=long_ago)
    return visit


def worked_case(world, *, minutes_by_day_ago, days_ago=10, complete=True):
    """A case the clinician first acted on `days_ago` days ago, with time on those days."""
    evisit = taken_evisit(patient=world.patient, clinician=world.clinician)
    first = local_days_ago(world.practice.zone, days_ago)
    EVisit.objects.filter(pk=evisit.pk).update(first_action_at=first)
    evisit.refresh_from_db()
    today = timezone.localdate(timezone=world.practice.zone)
    for minutes, ago in minutes_by_day_ago:
        visit_services.evisit_time_record(
            evisit=evisit,
            clinician=world.clinician,
            minutes=minutes,
            work_date=today - timedelta(days=ago),
            activity="Reviewed the photo and history",
        )
    if complete:
        visit_services.evisit_complete(
            evisit=evisit,
            clinician=world.clinician,
            assessment="Contact dermatitis",
            plan="Stop the cream",
            response="Please stop the cream.",
        )
    evisit.refresh_from_db()
    return evisit


class TestPull:
    def test_a_completed_case_becomes_one_encounter_with_its_code_and_minutes(
        self, world, video_type
    ):
        set_up(world)
        seen_long_ago(world, video_type)
        # 10 days ago is the first day of the period; 2 days ago is after it.
        evisit = worked_case(world, minutes_by_day_ago=[(8, 10), (6, 5), (30, 2)])

        assert evisit_services.pull_completed_evisits().built == 1
        assert evisit_services.pull_completed_evisits().built == 0  # idempotent

        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        assert encounter.evisit == evisit
        assert encounter.source == f"evisit:{evisit.pk}"
        assert encounter.minutes == 14
        assert encounter.rendering_provider == world.clinician.provider
        assert encounter.date_of_service == timezone.localdate(
            timezone=world.practice.zone
        ) - timedelta(days=5)
        line = encounter.lines.get()
        assert (line.code, line.place_of_service, line.modifiers) == ("99422", "11", [])
        assert line.charge == Decimal("55.00")
        assert "30 minutes recorded outside the period" in line.reason
        assert encounter.status == Encounter.Status.DRAFT  # no diagnosis yet
        assert AuditEvent.objects.filter(detail__startswith="encounter from e-visit").exists()

    def test_a_case_whose_seven_days_are_still_running_waits(self, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        # First reviewed 6 days ago: today is the period's 7th and last day.
        evisit = worked_case(world, minutes_by_day_ago=[(8, 2)], days_ago=6)
        assert evisit_services.pull_completed_evisits().built == 0
        assert not Encounter.objects.filter(kind=Encounter.Kind.EVISIT).exists()
        a_day_earlier = local_days_ago(world.practice.zone, 7)
        EVisit.objects.filter(pk=evisit.pk).update(first_action_at=a_day_earlier)
        assert evisit_services.pull_completed_evisits().built == 1

    def test_an_escalated_case_builds_no_encounter(self, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(15, 9)], complete=False)
        visit_services.evisit_escalate(evisit=evisit, clinician=world.clinician, note="Needs eyes")
        assert evisit_services.pull_completed_evisits().built == 0
        evisit.refresh_from_db()
        assessment = evisit_services.assess_evisit(evisit)
        assert assessment is not None
        assert assessment.suggestion.lines == ()
        assert assessment.suggestion.not_billed[0].code == "99422"

    def test_a_new_patients_case_is_built_without_a_line(self, world):
        set_up(world)
        worked_case(world, minutes_by_day_ago=[(25, 10)])
        assert evisit_services.pull_completed_evisits().built == 1
        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        assert not encounter.lines.exists()
        assert "established patients" in encounter.not_billed[0]["reason"]

    def test_a_live_visit_inside_the_period_takes_the_minutes(self, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(15, 10)])
        visit = ended_visit(world, video_type, minutes=20)
        inside = evisit.first_action_at + timedelta(days=2)
        Visit.objects.filter(pk=visit.pk).update(started_at=inside, ended_at=inside)
        evisit_services.pull_completed_evisits()
        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        assert not encounter.lines.exists()
        assert encounter.not_billed[0]["code"] == "99422"

    def test_photos_in_a_short_case_are_g2010_for_medicare(self, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        worked_case(world, minutes_by_day_ago=[(3, 10)])  # the helper's case has a photo
        evisit_services.pull_completed_evisits()
        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        assert [line.code for line in encounter.lines.all()] == ["G2010"]
        assert encounter.status == Encounter.Status.DRAFT
        assert any("24 business hours" in note for note in encounter.review_notes)

    def test_the_periodic_task_pulls_e_visits(self, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        worked_case(world, minutes_by_day_ago=[(12, 10)])
        assert tasks.pull_completed_evisits() == {"built": 1, "failed": 0}

    def test_the_encounter_page_and_worklist_show_the_e_visit(self, client, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        worked_case(world, minutes_by_day_ago=[(12, 10)])
        evisit_services.pull_completed_evisits()
        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        sign_in(client, world.clinician)
        page = client.get(reverse("billing:encounter", args=[encounter.pk]))
        assert page.status_code == 200
        assert "E-visit" in page.content.decode() and "99422" in page.content.decode()
        case = reverse("visits:evisit-review", args=[encounter.evisit_id])
        assert f'href="{case}"' in page.content.decode()
        listing = client.get(reverse("billing:worklist") + "?status=draft")
        assert listing.status_code == 200 and "E-visit" in listing.content.decode()


class TestCasePage:
    def test_the_clinician_sees_the_code_with_the_minutes(self, client, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(8, 3)], days_ago=4, complete=False)
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:evisit-review", args=[evisit.pk])).content.decode()
        assert "Billing codes" in page
        assert "8 minutes from" in page and "99421" in page
        assert "The encounter is built once the 7 days have passed." not in page  # not completed

    def test_the_panel_links_the_encounter_once_built(self, client, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(12, 10)])
        evisit_services.pull_completed_evisits()
        encounter = Encounter.objects.get(kind=Encounter.Kind.EVISIT)
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:evisit-review", args=[evisit.pk])).content.decode()
        assert reverse("billing:encounter", args=[encounter.pk]) in page

    def test_without_billing_the_page_has_no_codes_panel(self, client, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(8, 3)], days_ago=4, complete=False)
        sign_in(client, world.clinician)
        evisit_panels.unregister(evisit_case_panel)
        try:
            page = client.get(reverse("visits:evisit-review", args=[evisit.pk]))
        finally:
            evisit_panels.register(evisit_case_panel)
        assert page.status_code == 200 and "Billing codes" not in page.content.decode()

    def test_another_clinician_gets_404_and_sees_no_codes(self, client, world, video_type):
        set_up(world)
        seen_long_ago(world, video_type)
        evisit = worked_case(world, minutes_by_day_ago=[(8, 3)], days_ago=4, complete=False)
        other = make_staff(world.practice, "clinician", "other-clinician@example.com", "Dr Other")
        sign_in(client, other)
        page = client.get(reverse("visits:evisit-review", args=[evisit.pk]))
        assert page.status_code == 404 and "99421" not in page.content.decode()
