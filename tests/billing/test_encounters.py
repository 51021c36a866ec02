"""Encounters pulled from ended visits: suggested lines per payer, every reason an encounter
cannot be ready, idempotent pulls (also concurrent on PostgreSQL), and the tables' guards."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import services, tasks
from billing.models import (
    BillingProfile,
    ClaimLine,
    Encounter,
    EncounterDiagnosis,
    FeeScheduleEntry,
    Payer,
)
from intake.models import InsuranceCard
from telehealth.audit.models import AuditEvent
from telehealth.celery import app as celery_app
from tests.billing.concurrency import pull_at_once
from tests.visits.test_consumers import make_visit
from visits import services as visit_services
from visits.models import Presence, Visit

FEES = {"99202": "110.00", "99203": "160.00", "99212": "75.00", "99213": "120.00"}


def ended_visit(world, video_type, *, minutes=25, state="MA", at_home=None, video=True, start=None):
    """A video visit the clinician spent `minutes` in, ended now. The patient gave `state` when
    booking, and answered in the waiting room when `at_home` is given."""
    visit = make_visit(world, video_type, start=start)
    visit.appointment.patient_state = state
    visit.appointment.save(update_fields=["patient_state"])
    visit_services.patient_arrives(visit=visit)
    if at_home is not None:
        visit_services.location_confirm(visit=visit, state=state, at_home=at_home)
    clinician = visit_services.clinician_joins(visit=visit, user=world.clinician)
    visit_services.admit(visit=visit, by=world.clinician)
    if video:
        visit_services.patient_video_seen(visit=visit)
    presence = visit_services.presence_open(participant=clinician)
    started = timezone.now() - timedelta(minutes=minutes)
    Presence.objects.filter(pk=presence.pk).update(joined_at=started)
    Visit.objects.filter(pk=visit.pk).update(started_at=started)
    return visit_services.end(visit=visit, by=world.clinician)


def billing_set_up(world, *, payer_kind="commercial", variant=""):
    practice = world.practice
    BillingProfile.objects.create(
        practice=practice,
        billing_name="Alpha Health PC",
        group_npi="1234567893",
        ein="123456789",
        taxonomy="207Q00000X",
        address_line="1 Main St",
        city="Boston",
        state="MA",
        zip_code="021101234",
        submitter_id="ALPHA01",
        submitter_contact="Billing Desk",
        submitter_phone="6175550100",
        receiver_name="Clearing House",
        receiver_id="CLEAR01",
    )
    payer = Payer.objects.create(
        practice=practice,
        name="Acme Health",
        payer_id="ACME1",
        profile_kind=payer_kind,
        profile_variant=variant,
    )
    for code, charge in FEES.items():
        FeeScheduleEntry.objects.create(
            practice=practice, code=code, charge=Decimal(charge), effective_from=date(2025, 1, 1)
        )
    return payer


def insurance_card(patient, payer_name="Acme Health"):
    return InsuranceCard.objects.create(
        patient=patient,
        payer=payer_name,
        member_id="M123",
        subscriber_name=patient.legal_name,
        front="insurance/front.png",
        front_type="image/png",
    )


@pytest.mark.django_db
class TestPull:
    def test_an_ended_visit_becomes_one_encounter_with_its_facts(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        visit = ended_visit(world, video_type, minutes=25)

        assert services.pull_completed_visits().built == 1

        encounter = Encounter.objects.get()
        assert encounter.source == f"visit:{visit.pk}"
        assert encounter.kind == Encounter.Kind.VISIT
        assert encounter.visit == visit
        assert encounter.patient == world.patient
        assert encounter.rendering_provider == world.clinician.provider
        assert encounter.minutes == 25
        assert encounter.modality == "video"
        assert encounter.patient_state == "MA"
        assert encounter.payer is not None and encounter.payer.name == "Acme Health"
        assert (
            encounter.date_of_service
            == timezone.localtime(visit.started_at, world.practice.zone).date()
        )
        assert encounter.rules_version.startswith("visit codes ")
        assert "commercial" in encounter.rules_version
        assert AuditEvent.objects.filter(
            action="create", object_type="billing.Encounter", object_id=str(encounter.pk)
        ).exists()

    @pytest.mark.parametrize(
        ("kind", "variant", "at_home", "video", "code", "modifiers", "place"),
        [
            ("commercial", "", True, True, "99202", ["95"], "10"),
            ("commercial", "", False, True, "99202", ["95"], "02"),
            ("medicare", "", True, True, "99202", [], "10"),
            ("medicare", "", False, True, "99202", [], "02"),
            ("commercial", "", True, False, "99202", ["93"], "10"),
            ("medicaid", "", True, True, "99202", ["95"], "10"),
            ("commercial", "commercial-telemedicine-codes", True, True, "98000", [], "10"),
        ],
    )
    def test_lines_are_coded_by_the_payer_and_where_the_patient_was(
        self, world, video_type, kind, variant, at_home, video, code, modifiers, place
    ):
        billing_set_up(world, payer_kind=kind, variant=variant)
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=25, at_home=at_home, video=video)
        services.pull_completed_visits()

        encounter = Encounter.objects.get()
        assert encounter.patient_at_home is at_home
        [line] = encounter.lines.all()
        assert (line.code, line.modifiers, line.place_of_service) == (code, modifiers, place)
        assert line.units == 1 and line.suggested and line.position == 1
        assert "25" in line.reason
        assert "The note is not signed yet." in encounter.review_notes

    def test_a_documented_visit_waits_only_for_its_diagnosis(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=35, at_home=True)
        services.pull_completed_visits()

        encounter = Encounter.objects.get()
        [line] = encounter.lines.all()
        assert (line.code, line.charge) == ("99203", Decimal("160.00"))
        assert encounter.problems == ["No diagnosis yet: add at least one ICD-10-CM code."]
        assert encounter.status == Encounter.Status.DRAFT
        assert encounter.not_billed == []

    def test_a_code_without_a_fee_is_listed_and_charged_nothing(self, world, video_type):
        billing_set_up(world)
        FeeScheduleEntry.objects.filter(code="99202").delete()
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=25, at_home=True)
        services.pull_completed_visits()
        encounter = Encounter.objects.get()
        assert "No fee for 99202 in the fee schedule." in encounter.problems
        assert encounter.lines.get().charge == Decimal("0")

    def test_a_zero_fee_is_listed(self, world, video_type):
        billing_set_up(world)
        FeeScheduleEntry.objects.filter(code="99202").update(charge=Decimal("0"))
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=25, at_home=True)
        services.pull_completed_visits()
        assert "The charge for 99202 is zero." in Encounter.objects.get().problems

    def test_the_fee_in_force_on_the_date_of_service_applies(self, world, video_type):
        billing_set_up(world)
        FeeScheduleEntry.objects.create(
            practice=world.practice,
            code="99202",
            charge=Decimal("999.00"),
            effective_from=timezone.localdate() + timedelta(days=2),
        )
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=25, at_home=True)
        services.pull_completed_visits()
        assert Encounter.objects.get().lines.get().charge == Decimal("110.00")

    def test_too_few_minutes_bill_nothing_and_say_why(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        ended_visit(world, video_type, minutes=5, at_home=True)
        services.pull_completed_visits()
        encounter = Encounter.objects.get()
        assert not encounter.lines.exists()
        assert encounter.not_billed and encounter.not_billed[0]["reason"]
        assert "Nothing to bill: no line is supported by the documentation." in encounter.problems

    def test_a_visit_not_ended_is_not_pulled(self, world, video_type):
        visit = make_visit(world, video_type)
        visit_services.patient_arrives(visit=visit)
        assert services.pull_completed_visits().built == 0
        assert not Encounter.objects.exists()

    def test_a_visit_ended_after_now_is_left_for_a_later_run(self, world, video_type):
        ended_visit(world, video_type)
        earlier = timezone.now() - timedelta(minutes=1)
        assert services.pull_completed_visits(now=earlier).built == 0
        assert services.pull_completed_visits().built == 1

    def test_running_the_pull_twice_builds_nothing_twice(self, world, video_type):
        billing_set_up(world)
        ended_visit(world, video_type)
        ended_visit(world, video_type, start=timezone.now() - timedelta(hours=3))

        assert services.pull_completed_visits().built == 2
        lines = ClaimLine.objects.count()
        assert services.pull_completed_visits().built == 0
        assert Encounter.objects.count() == 2
        assert ClaimLine.objects.count() == lines
        assert AuditEvent.objects.filter(object_type="billing.Encounter").count() == 2

    def test_every_reason_it_cannot_be_ready_is_listed(self, world, video_type):
        ended_visit(world, video_type)  # no billing profile, no insurance, no diagnosis
        services.pull_completed_visits()
        encounter = Encounter.objects.get()
        assert encounter.status == Encounter.Status.DRAFT
        problems = " | ".join(encounter.problems)
        assert "billing profile" in problems
        assert "No insurance card on file" in problems
        assert "No diagnosis yet" in problems
        assert "whether they were at home" in problems

    def test_a_missing_provider_npi_is_listed(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        world.clinician.provider.__class__.objects.filter(pk=world.clinician.provider.pk).update(
            npi=""
        )
        ended_visit(world, video_type)
        services.pull_completed_visits()
        assert "Dr Alpha has no NPI on file." in Encounter.objects.get().problems

    def test_an_insurer_not_set_up_as_a_payer_is_listed(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient, payer_name="Unknown Mutual")
        ended_visit(world, video_type)
        services.pull_completed_visits()
        encounter = Encounter.objects.get()
        assert encounter.payer is None
        assert "The insurer Unknown Mutual is not set up as a payer." in encounter.problems
        # Medicare's rules stand in, so the clinician still sees what would be billed.
        assert "medicare" in encounter.rules_version

    def test_a_payer_with_no_coding_rules_is_listed(self, world, video_type):
        billing_set_up(world, variant="no-such-profile")
        insurance_card(world.patient)
        ended_visit(world, video_type, at_home=True)
        services.pull_completed_visits()
        problems = Encounter.objects.get().problems
        assert any(p.startswith("No coding rules for the payer Acme Health") for p in problems)

    def test_the_periodic_task_is_scheduled_and_pulls(self, world, video_type):
        schedule = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
        assert {"billing.tasks.pull_completed_visits", "billing.tasks.pull_monitoring"} <= schedule
        ended_visit(world, video_type)
        assert tasks.pull_completed_visits.delay().get() == {"built": 1, "failed": 0}
        assert Encounter.objects.count() == 1

    def test_the_new_patient_lookback_makes_a_second_visit_established(self, world, video_type):
        first = ended_visit(world, video_type, start=timezone.now() - timedelta(hours=3))
        first_ended = timezone.now() - timedelta(hours=2)
        Visit.objects.filter(pk=first.pk).update(
            started_at=first_ended - timedelta(minutes=25), ended_at=first_ended
        )
        first.refresh_from_db()
        second = ended_visit(world, video_type)
        first_facts = services.assess_visit(first).facts
        second_facts = services.assess_visit(second).facts
        assert first_facts is not None and first_facts.patient_status == "new"
        assert second_facts is not None and second_facts.patient_status == "established"

    def test_a_visit_that_never_started_is_not_pulled(self, world, video_type):
        billing_set_up(world)
        no_show = make_visit(world, video_type)
        visit_services.end(visit=no_show, by=world.front_desk)  # nobody came
        refused = make_visit(world, video_type, start=timezone.now() - timedelta(hours=3))
        visit_services.patient_arrives(visit=refused)
        visit_services.location_confirm(visit=refused, state="TX", at_home=True)
        with pytest.raises(visit_services.AdmissionRefused):
            visit_services.admit(visit=refused, by=world.clinician)
        visit_services.end(visit=refused, by=world.front_desk)  # ended by staff, unstarted
        assert services.pull_completed_visits() == services.PullResult(built=0, failed=0)
        assert not Encounter.objects.exists()

    def test_a_visit_that_never_started_does_not_make_the_patient_established(
        self, world, video_type
    ):
        no_show = make_visit(world, video_type, start=timezone.now() - timedelta(hours=3))
        visit_services.patient_arrives(visit=no_show)
        visit_services.end(visit=no_show, by=world.front_desk)
        Visit.objects.filter(pk=no_show.pk).update(ended_at=timezone.now() - timedelta(hours=2))
        first_seen = ended_visit(world, video_type)
        facts = services.assess_visit(first_seen).facts
        assert facts is not None and facts.patient_status == "new"

    def test_the_clinician_who_admitted_renders_the_visit_and_their_minutes_count(
        self, world, video_type
    ):
        from tests.visits.test_room_licensure import second_clinician

        billing_set_up(world)
        colleague = second_clinician(world, "MA")
        visit = make_visit(world, video_type)  # booked with Dr Alpha
        visit_services.patient_arrives(visit=visit)
        visit_services.location_confirm(visit=visit, state="MA", at_home=True)
        participant = visit_services.clinician_joins(visit=visit, user=colleague)
        visit_services.admit(visit=visit, by=colleague)
        visit_services.patient_video_seen(visit=visit)
        presence = visit_services.presence_open(participant=participant)
        started = timezone.now() - timedelta(minutes=32)
        Presence.objects.filter(pk=presence.pk).update(joined_at=started)
        Visit.objects.filter(pk=visit.pk).update(started_at=started)
        visit_services.end(visit=visit, by=colleague)
        services.pull_completed_visits()
        encounter = Encounter.objects.get()
        assert encounter.rendering_provider == colleague.provider  # not the booked Dr Alpha
        assert encounter.minutes == 32

    def test_overlapping_presences_count_once_and_only_within_the_visit(self, world, video_type):
        from visits import selectors as visit_selectors

        visit = ended_visit(world, video_type, minutes=0)  # started and ended now
        start = timezone.now() - timedelta(minutes=30)
        Visit.objects.filter(pk=visit.pk).update(
            started_at=start, ended_at=start + timedelta(minutes=25)
        )
        clinician = visit.participants.get(user=world.clinician)
        clinician.presences.all().delete()
        for joined, left in ((-5, 10), (8, 15), (12, 20), (22, 40)):  # two tabs, a reconnect
            Presence.objects.create(
                participant=clinician,
                joined_at=start + timedelta(minutes=joined),
                left_at=start + timedelta(minutes=left),
            )
        visit.refresh_from_db()
        # In the visit 0-20 and 22-25: 23 minutes, not the 47 the rows add up to.
        assert visit_selectors.clinician_minutes(visit=visit) == 23

    def test_a_visit_without_patient_video_is_audio_only(self, world, video_type):
        ended_visit(world, video_type, video=False)
        services.pull_completed_visits()
        assert Encounter.objects.get().modality == "audio_only"


@pytest.mark.django_db(transaction=True)
def test_concurrent_pulls_build_one_encounter(require_postgres, world, video_type):
    billing_set_up(world)
    insurance_card(world.patient)
    ended_visit(world, video_type, at_home=True)
    runs = 8
    built = pull_at_once(services.pull_completed_visits, runs)
    assert sorted(built, key=str) == [0] * (runs - 1) + [1]
    encounter = Encounter.objects.get()
    assert list(encounter.lines.values_list("position", "code")) == [(1, "99202")]
    assert AuditEvent.objects.filter(object_type="billing.Encounter").count() == 1


@pytest.mark.django_db
class TestGuards:
    @pytest.fixture
    def encounter(self, world, video_type):
        ended_visit(world, video_type)
        services.pull_completed_visits()
        return Encounter.objects.get()

    def line(self, encounter, **fields):
        values = {
            "encounter": encounter,
            "position": 9,
            "code": "99213",
            "place_of_service": "10",
            "charge": Decimal("1.00"),
        }
        return ClaimLine(**(values | fields))

    def test_a_negative_charge_is_refused_by_the_database(self, encounter):
        with pytest.raises(IntegrityError), transaction.atomic():
            self.line(encounter, charge=Decimal("-0.01")).save()

    def test_a_negative_fee_is_refused_by_the_database(self, world):
        with pytest.raises(IntegrityError), transaction.atomic():
            FeeScheduleEntry.objects.create(
                practice=world.practice,
                code="99213",
                charge=Decimal("-1"),
                effective_from=date(2026, 1, 1),
            )

    def test_two_lines_cannot_share_a_position(self, encounter):
        self.line(encounter).save()
        with pytest.raises(IntegrityError), transaction.atomic():
            self.line(encounter).save()

    def test_a_diagnosis_position_is_between_1_and_12(self, encounter):
        for position in (0, 13):
            with pytest.raises(IntegrityError), transaction.atomic():
                EncounterDiagnosis.objects.create(
                    encounter=encounter, position=position, code="J02.9", description="x"
                )
        EncounterDiagnosis.objects.create(
            encounter=encounter, position=12, code="J02.9", description="Acute pharyngitis"
        )

    def test_a_source_is_billed_once_per_practice(self, encounter):
        with pytest.raises(IntegrityError), transaction.atomic():
            Encounter.objects.create(
                practice=encounter.practice,
                patient=encounter.patient,
                kind=Encounter.Kind.VISIT,
                visit=encounter.visit,
                source=encounter.source,
                date_of_service=encounter.date_of_service,
            )

    def test_a_signed_status_needs_a_signature(self, encounter):
        with pytest.raises(IntegrityError), transaction.atomic():
            Encounter.objects.filter(pk=encounter.pk).update(status=Encounter.Status.SIGNED)

    def test_a_visit_encounter_needs_its_visit(self, encounter):
        with pytest.raises(IntegrityError), transaction.atomic():
            Encounter.objects.filter(pk=encounter.pk).update(visit=None)

    def test_more_than_four_modifiers_fail_validation(self, encounter):
        with pytest.raises(ValidationError, match="four modifiers"):
            self.line(encounter, modifiers=["95", "GT", "25", "59", "XU"]).full_clean()

    def test_diagnoses_are_stored_encrypted(self, encounter):
        EncounterDiagnosis.objects.create(
            encounter=encounter, position=1, code="J02.9", description="Acute pharyngitis"
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT code, description FROM billing_encounterdiagnosis")
            stored = cursor.fetchone()
        assert "J02.9" not in stored[0] and "pharyngitis" not in stored[1]


def backdate(visit, day: date):
    """Move an ended visit to a past day (the visit flow stamps the current time)."""
    moment = datetime.combine(day, time(15, 0), UTC)
    type(visit).objects.filter(pk=visit.pk).update(
        started_at=moment, ended_at=moment + timedelta(minutes=25), created_at=moment
    )


@pytest.mark.django_db
class TestPullSurvivesBadVisits:
    def test_a_visit_before_the_billing_start_is_skipped_and_the_rest_are_billed(
        self, world, video_type
    ):
        billing_set_up(world, payer_kind="medicare")
        insurance_card(world.patient)
        old = ended_visit(world, video_type)
        backdate(old, date(2024, 6, 3))
        recent = ended_visit(world, video_type)

        result = services.pull_completed_visits()

        assert (result.built, result.failed) == (1, 0)
        assert list(Encounter.objects.values_list("visit_id", flat=True)) == [recent.pk]

    def test_a_visit_no_rules_cover_is_a_listed_problem_not_a_crash(
        self, world, video_type, settings
    ):
        settings.BILLING_START_DATE = date(2024, 1, 1)
        billing_set_up(world, payer_kind="medicare")
        insurance_card(world.patient)
        old = ended_visit(world, video_type)
        backdate(old, date(2024, 6, 3))
        ended_visit(world, video_type)

        result = services.pull_completed_visits()

        assert (result.built, result.failed) == (2, 0)
        encounter = Encounter.objects.get(visit=old)
        assert encounter.status == Encounter.Status.DRAFT
        assert "No coding rules for the payer Acme Health on 2024-06-03." in encounter.problems
        assert encounter.lines.count() == 0

    def test_an_unexpected_error_on_one_visit_does_not_stop_the_others(
        self, world, video_type, monkeypatch, caplog
    ):
        billing_set_up(world)
        insurance_card(world.patient)
        broken = ended_visit(world, video_type)
        fine = ended_visit(world, video_type)
        real = services.assess_visit

        def assess(visit):
            if visit.pk == broken.pk:
                raise RuntimeError(f"bad data for {visit.patient.legal_name}")
            return real(visit)

        monkeypatch.setattr(services, "assess_visit", assess)

        result = services.pull_completed_visits()

        assert (result.built, result.failed) == (1, 1)
        assert list(Encounter.objects.values_list("visit_id", flat=True)) == [fine.pk]
        assert f"visit {broken.pk}" in caplog.text
        assert world.patient.legal_name not in caplog.text


@pytest.mark.django_db
class TestLicensure:
    def test_a_remote_visit_outside_the_clinicians_states_is_a_problem(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        visit = ended_visit(world, video_type, state="MA", at_home=True)
        # The room refuses to start such a visit; the licence record can still change (an
        # entry corrected after the visit), and the claim must not go out on it.
        provider = world.clinician.provider
        provider.licensed_states = ["NY"]
        provider.save(update_fields=["licensed_states"])

        services.pull_completed_visits()

        encounter = Encounter.objects.get(visit=visit)
        name = provider.display_name
        problem = f"{name} is not licensed in Massachusetts, where the patient was."
        assert problem in encounter.problems
        assert encounter.status == Encounter.Status.DRAFT

    def test_a_remote_visit_in_a_licensed_state_has_no_licensure_problem(self, world, video_type):
        billing_set_up(world)
        insurance_card(world.patient)
        visit = ended_visit(world, video_type, state="MA", at_home=True)

        services.pull_completed_visits()

        problems = Encounter.objects.get(visit=visit).problems
        assert not [problem for problem in problems if "not licensed" in problem]
