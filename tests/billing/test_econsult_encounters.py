"""Answered e-consults become encounters, one for the specialist and, from 16 minutes, one for
the requester, once the days in which a visit with the specialist would change the codes have
passed; each side sees its own codes on the case page."""

import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing import econsult_services, tasks
from billing.consults import Side
from billing.models import Encounter, FeeScheduleEntry
from billing.views.econsults import econsult_case_panel
from telehealth.accounts.models import Provider
from telehealth.audit.models import AuditEvent
from tests.billing.concurrency import pull_at_once
from tests.billing.test_encounters import billing_set_up, ended_visit, insurance_card
from tests.clock import local_days_ago
from tests.conftest import sign_in
from tests.visits.econsult_helpers import sent_econsult
from visits import econsult_panels, econsult_selectors
from visits import econsult_services as visit_services
from visits.models import EConsult, Visit

pytestmark = pytest.mark.django_db

FEES = {
    "99446": "20.00",
    "99447": "40.00",
    "99448": "60.00",
    "99449": "75.00",
    "99451": "35.00",
    "99452": "38.00",
}


def set_up(world, *, payer_kind="medicare"):
    billing_set_up(world, payer_kind=payer_kind)
    insurance_card(world.patient)
    for code, charge in FEES.items():
        FeeScheduleEntry.objects.create(
            practice=world.practice,
            code=code,
            charge=Decimal(charge),
            effective_from=date(2019, 1, 1),
        )
    Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="spec",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )


def answered_case(
    world,
    *,
    specialist_minutes=(),
    requester_minutes=(),
    verbal=False,
    days_ago=20,
    answer=True,
):
    """A case sent `days_ago` days ago (and answered then), with time recorded on it:
    `specialist_minutes` as (minutes, discussion) pairs, `requester_minutes` as minutes."""
    econsult = sent_econsult(
        patient=world.patient, requester=world.clinician, to=world.other_clinician
    )
    back = local_days_ago(world.practice.zone, days_ago)
    EConsult.objects.filter(pk=econsult.pk).update(sent_at=back)
    econsult.refresh_from_db()
    work_date = timezone.localtime(back, world.practice.zone).date()
    for minutes, discussion in specialist_minutes:
        visit_services.econsult_time_record(
            econsult=econsult,
            clinician=world.other_clinician,
            minutes=minutes,
            work_date=work_date,
            activity="Read the records",
            discussion=discussion,
        )
    for minutes in requester_minutes:
        visit_services.econsult_time_record(
            econsult=econsult,
            clinician=world.clinician,
            minutes=minutes,
            work_date=work_date,
            activity="Prepared the request",
        )
    if answer:
        visit_services.econsult_answer(
            econsult=econsult,
            specialist=world.other_clinician,
            answer="Add amlodipine 5 mg.",
            verbal_report=verbal,
        )
        EConsult.objects.filter(pk=econsult.pk).update(answered_at=back)
    econsult.refresh_from_db()
    return econsult


def specialist_visit(world, video_type, econsult, *, days_before):
    """A visit with the specialist at noon of the practice's day `days_before` days before the
    case was sent (counted in local days, as the rule counts them: a span of 24-hour days would
    cross a daylight-saving change and land a day off)."""
    zone = world.practice.zone
    sent_on = timezone.localtime(econsult.sent_at, zone).date()
    at = datetime.combine(sent_on - timedelta(days=days_before), time(12), zone)
    visit = ended_visit(world, video_type, minutes=20)
    provider = world.other_clinician.provider
    Visit.objects.filter(pk=visit.pk).update(provider=provider, started_at=at, ended_at=at)
    return visit


def encounter_of(econsult, side):
    return Encounter.objects.get(source=econsult_services.econsult_source(econsult, side))


class TestPull:
    def test_a_written_answer_and_the_requesters_time_become_two_encounters(self, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)], requester_minutes=[20])

        assert econsult_services.pull_answered_econsults().built == 2
        assert econsult_services.pull_answered_econsults().built == 0  # idempotent

        specialist = encounter_of(econsult, Side.SPECIALIST)
        assert specialist.kind == Encounter.Kind.ECONSULT and specialist.econsult == econsult
        assert specialist.rendering_provider == world.other_clinician.provider
        assert specialist.minutes == 12
        line = specialist.lines.get()
        assert (line.code, line.place_of_service, line.modifiers) == ("99451", "11", [])
        assert line.charge == Decimal("35.00")
        assert (
            specialist.date_of_service
            == timezone.localtime(econsult.answered_at, world.practice.zone).date()
        )
        requester = encounter_of(econsult, Side.REQUESTER)
        assert requester.rendering_provider == world.clinician.provider
        assert [line.code for line in requester.lines.all()] == ["99452"]
        assert specialist.status == Encounter.Status.DRAFT  # no diagnosis yet
        assert AuditEvent.objects.filter(detail__startswith="encounter from e-consult").count() == 2

    def test_a_verbal_report_with_mostly_discussion_is_coded_by_the_minutes(self, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(18, True), (7, False)], verbal=True)
        econsult_services.pull_answered_econsults()
        assert [line.code for line in encounter_of(econsult, Side.SPECIALIST).lines.all()] == [
            "99448"
        ]

    def test_a_verbal_report_with_little_discussion_is_the_written_code_with_the_reason(
        self, world
    ):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(4, True), (10, False)], verbal=True)
        econsult_services.pull_answered_econsults()
        line = encounter_of(econsult, Side.SPECIALIST).lines.get()
        assert line.code == "99451" and "not more than half" in line.reason

    def test_too_few_minutes_build_the_specialists_encounter_with_the_reason(self, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(4, False)], requester_minutes=[15])
        assert econsult_services.pull_answered_econsults().built == 1  # no requester encounter
        specialist = encounter_of(econsult, Side.SPECIALIST)
        assert not specialist.lines.exists()
        assert "below the 5 minutes of 99451" in specialist.not_billed[0]["reason"]
        assert not Encounter.objects.filter(source__endswith=":requester").exists()

    def test_a_visit_with_the_specialist_within_14_days_means_no_specialist_code(
        self, world, video_type
    ):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)], requester_minutes=[20])
        specialist_visit(world, video_type, econsult, days_before=14)
        econsult_services.pull_answered_econsults()
        specialist = encounter_of(econsult, Side.SPECIALIST)
        assert not specialist.lines.exists()
        assert specialist.not_billed[0]["code"] == "99451"
        assert "within 14 days" in specialist.not_billed[0]["reason"]
        # The requester's referral work is theirs: still billed.
        assert encounter_of(econsult, Side.REQUESTER).lines.get().code == "99452"

    def test_a_visit_with_the_specialist_long_before_does_not_count(self, world, video_type):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)])
        specialist_visit(world, video_type, econsult, days_before=15)
        # The visit is in the case's record: the rule, not the query's reach, leaves it out.
        record = econsult_selectors.consult_record(econsult, around=14)
        assert record.specialist_visit_days == (record.sent_on - timedelta(days=15),)
        econsult_services.pull_answered_econsults()
        assert encounter_of(econsult, Side.SPECIALIST).lines.get().code == "99451"

    def test_a_visit_early_on_the_windows_first_day_counts_across_a_clock_change(
        self, world, video_type
    ):
        """Sent late on 15 Nov 2026 (EST); the visit at 00:10 EDT on 1 Nov, the 14th local day
        before, lies 15 days and 20 minutes before it in hours: the query still reaches it."""
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)])
        zone = world.practice.zone
        sent = datetime(2026, 11, 15, 23, 30, tzinfo=zone)
        EConsult.objects.filter(pk=econsult.pk).update(sent_at=sent, answered_at=sent)
        econsult.refresh_from_db()
        visit = ended_visit(world, video_type, minutes=20)
        seen = datetime(2026, 11, 1, 0, 10, tzinfo=zone)
        assert sent.astimezone(UTC) - seen.astimezone(UTC) > timedelta(days=15)
        provider = world.other_clinician.provider
        Visit.objects.filter(pk=visit.pk).update(provider=provider, started_at=seen, ended_at=seen)
        record = econsult_selectors.consult_record(econsult, around=14)
        assert record.specialist_visit_days == (date(2026, 11, 1),)

    def test_a_second_econsult_within_seven_days_is_not_billed_again(self, world):
        set_up(world)
        first = answered_case(world, specialist_minutes=[(12, False)], days_ago=22)
        second = answered_case(world, specialist_minutes=[(12, False)], days_ago=18)
        econsult_services.pull_answered_econsults()
        assert encounter_of(first, Side.SPECIALIST).lines.get().code == "99451"
        later = encounter_of(second, Side.SPECIALIST)
        assert not later.lines.exists()
        assert "once per 7 days" in later.not_billed[0]["reason"]

    def test_a_case_whose_visit_window_is_still_open_waits(self, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)], days_ago=14)
        assert econsult_services.pull_answered_econsults().built == 0
        earlier = local_days_ago(world.practice.zone, 15)
        EConsult.objects.filter(pk=econsult.pk).update(answered_at=earlier, sent_at=earlier)
        assert econsult_services.pull_answered_econsults().built == 1

    def test_an_unanswered_case_builds_nothing(self, world):
        set_up(world)
        answered_case(world, specialist_minutes=[(12, False)], answer=False)
        assert econsult_services.pull_answered_econsults().built == 0

    def test_the_periodic_task_pulls_e_consults_and_is_on_the_hourly_schedule(self, world):
        from telehealth.celery import app

        set_up(world)
        answered_case(world, specialist_minutes=[(12, False)])
        assert tasks.pull_answered_econsults() == {"built": 1, "failed": 0}
        schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
        assert "billing.tasks.pull_answered_econsults" in schedule
        assert schedule["billing.tasks.pull_answered_econsults"].hour == set(range(24))


@pytest.mark.django_db(transaction=True)
def test_two_cases_of_one_patient_built_at_once_bill_the_period_once(require_postgres, world):
    """Two runs building two of one patient's cases four days apart at the same moment: the
    once-per-7-days limit reads the other case's encounter, so they must take turns."""
    set_up(world)
    cases = [
        answered_case(world, specialist_minutes=[(12, False)], days_ago=days) for days in (22, 18)
    ]
    barrier = threading.Barrier(len(cases))
    errors: list[Exception] = []

    def build(econsult):
        try:
            barrier.wait()
            econsult_services.encounters_from_econsult(econsult=econsult)
        except Exception as exc:  # asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=build, args=(case,)) for case in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    billed = [encounter_of(case, Side.SPECIALIST).lines.exists() for case in cases]
    assert sorted(billed) == [False, True]


@pytest.mark.django_db(transaction=True)
def test_concurrent_pulls_build_each_sides_encounter_once(require_postgres, world):
    set_up(world)
    econsult = answered_case(world, specialist_minutes=[(12, False)], requester_minutes=[20])
    runs = 8
    built = pull_at_once(econsult_services.pull_answered_econsults, runs)
    assert sorted(built, key=str) == [0] * (runs - 1) + [2]
    assert Encounter.objects.filter(econsult=econsult).count() == 2
    assert {e.source for e in Encounter.objects.filter(econsult=econsult)} == {
        f"econsult:{econsult.pk}:specialist",
        f"econsult:{econsult.pk}:requester",
    }


class TestCasePage:
    def test_each_side_sees_its_own_codes(self, client, world):
        set_up(world)
        econsult = answered_case(
            world, specialist_minutes=[(12, False)], requester_minutes=[20], days_ago=3
        )
        sign_in(client, world.other_clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "Billing codes" in page and "99451" in page and "99452" not in page
        assert "The encounter is built once" in page
        client.logout()
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "Billing codes" in page and "99452" in page and "99451" not in page

    def test_the_requester_under_16_minutes_sees_why(self, client, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)], requester_minutes=[10])
        sign_in(client, world.clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        assert "below the 16 minutes of 99452" in page

    def test_the_panel_links_each_sides_encounter_once_built(self, client, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)], requester_minutes=[20])
        econsult_services.pull_answered_econsults()
        sign_in(client, world.other_clinician)
        page = client.get(reverse("visits:econsult", args=[econsult.pk])).content.decode()
        mine = encounter_of(econsult, Side.SPECIALIST)
        theirs = encounter_of(econsult, Side.REQUESTER)
        assert reverse("billing:encounter", args=[mine.pk]) in page
        assert reverse("billing:encounter", args=[theirs.pk]) not in page

    def test_without_billing_the_page_has_no_codes_panel(self, client, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)])
        sign_in(client, world.other_clinician)
        econsult_panels.unregister(econsult_case_panel)
        try:
            page = client.get(reverse("visits:econsult", args=[econsult.pk]))
        finally:
            econsult_panels.register(econsult_case_panel)
        assert page.status_code == 200 and "Billing codes" not in page.content.decode()

    def test_the_front_desk_gets_404_and_sees_no_codes(self, client, world):
        set_up(world)
        econsult = answered_case(world, specialist_minutes=[(12, False)])
        sign_in(client, world.front_desk)
        page = client.get(reverse("visits:econsult", args=[econsult.pk]))
        assert page.status_code in (403, 404) and "99451" not in page.content.decode()


def test_the_encounter_page_links_the_case_and_the_worklist_lists_it(client, world):
    set_up(world)
    econsult = answered_case(world, specialist_minutes=[(12, False)])
    econsult_services.pull_answered_econsults()
    encounter = encounter_of(econsult, Side.SPECIALIST)
    sign_in(client, world.other_clinician)
    page = client.get(reverse("billing:encounter", args=[encounter.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "E-consult" in text and "99451" in text
    assert f'href="{reverse("visits:econsult", args=[econsult.pk])}"' in text
    listing = client.get(reverse("billing:worklist") + "?status=draft")
    assert listing.status_code == 200 and "E-consult" in listing.content.decode()
