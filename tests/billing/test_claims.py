"""837P batches of signed encounters: built from the practice's billing profile, the rendering
clinician, intake's insurance card and the encounter's diagnoses and lines; validated by pyx12
inside the test; encounters that cannot go are refused with their reasons while the rest go;
control numbers increase and are never shared, also when two exports run at once."""

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import claims, x12
from billing.models import BillingProfile, ClaimBatch, ClaimLine, Encounter, EncounterDiagnosis
from billing.remittances import remittance_import
from billing.x12 import validate
from intake.models import InsuranceCard
from scheduling.models import Appointment
from telehealth.accounts.models import Provider
from telehealth.audit.models import AuditEvent
from tests.billing.test_encounters import billing_set_up
from tests.conftest import make_patient, sign_in
from tests.core.test_access_matrix import make_appointment
from visits import services as visit_services

HOME = {"line1": "12 Elm St", "city": "Boston", "state": "MA", "postal_code": "02139"}
DAY = date(2026, 11, 20)


def segments(text: str, tag: str) -> list[list[str]]:
    return [s.split("*") for s in text.replace("\n", "").split("~") if s.split("*")[0] == tag]


def assert_valid(text: str) -> None:
    errors = validate(text)
    assert errors == [], f"{len(errors)} pyx12 errors, first: {errors[0]}"


def card(patient, *, payer="Acme Health", **fields) -> InsuranceCard:
    values = {
        "member_id": "M123456",
        "group_number": "G77",
        "subscriber_name": patient.legal_name,
        "front": "insurance/front.png",
        "front_type": "image/png",
    }
    return InsuranceCard.objects.create(patient=patient, payer=payer, **{**values, **fields})


def signed_encounter(
    world,
    patient,
    *,
    codes=("E11.9", "I10"),
    lines=(("99213", ["95"], "10", "120.00", [1, 2]),),
    provider=None,
) -> Encounter:
    """A signed visit encounter with its diagnoses and lines, as the clinician left it."""
    appointment = make_appointment(patient)
    # One hour apart: PostgreSQL refuses a provider's overlapping appointments.
    shift = timedelta(hours=Appointment.objects.count())
    Appointment.objects.filter(pk=appointment.pk).update(
        start=F("start") + shift,
        end=F("end") + shift,
        blocked_start=F("blocked_start") + shift,
        blocked_end=F("blocked_end") + shift,
    )
    visit = visit_services.visit_for_appointment(appointment)
    provider = provider or world.clinician.provider
    encounter = Encounter.objects.create(
        practice=patient.practice,
        patient=patient,
        kind=Encounter.Kind.VISIT,
        source=f"visit:{visit.pk}",
        visit=visit,
        rendering_provider=provider,
        date_of_service=DAY,
        minutes=25,
        modality=Encounter.Modality.VIDEO,
        patient_state="MA",
        patient_at_home=True,
        status=Encounter.Status.SIGNED,
        signed_by=provider.user,
        signed_at=timezone.now(),
    )
    for position, code in enumerate(codes, start=1):
        EncounterDiagnosis.objects.create(
            encounter=encounter, position=position, code=code, description=code
        )
    for position, (code, modifiers, place, charge, pointers) in enumerate(lines, start=1):
        ClaimLine.objects.create(
            encounter=encounter,
            position=position,
            code=code,
            modifiers=modifiers,
            place_of_service=place,
            charge=Decimal(charge),
            diagnosis_pointers=pointers,
        )
    return encounter


@pytest.fixture
def ready_world(world):
    billing_set_up(world)
    for patient in (world.patient, world.other_patient):
        patient.address = HOME
        patient.sex = "female"
        patient.save(update_fields=["address", "sex"])
        card(patient)
    return world


def export(world, *encounters, by=None):
    return claims.claim_batch_export(
        practice=world.practice, encounter_ids=[e.pk for e in encounters], by=by or world.admin
    )


@pytest.mark.django_db
class TestExport:
    def test_a_batch_of_signed_encounters_passes_pyx12_and_carries_their_facts(self, ready_world):
        world = ready_world
        first = signed_encounter(
            world,
            world.patient,
            lines=(
                ("99213", ["95"], "10", "120.00", [1, 2]),
                ("99417", ["95", "25"], "02", "45.50", [2]),
            ),
        )
        second = signed_encounter(
            world,
            world.other_patient,
            codes=("J45.909",),
            lines=(("99213", ["95"], "10", "120.00", [1]),),
        )

        result = export(world, first, second)

        assert result.refused == []
        assert {e.pk for e in result.sent} == {first.pk, second.pk}
        batch = result.batch
        assert batch is not None and batch.control_number == 1
        assert (batch.claim_count, batch.total_charge) == (2, Decimal("285.50"))
        text = batch.content
        assert_valid(text)
        assert segments(text, "ISA")[0][13] == "000000001"
        assert segments(text, "GS")[0][6] == "1"
        assert [clm[1] for clm in segments(text, "CLM")] == [f"E{first.pk}", f"E{second.pk}"]
        assert segments(text, "CLM")[0][2] == "165.50"
        assert segments(text, "CLM")[0][5] == "10:B:1"
        assert segments(text, "HI")[0][1:] == ["ABK:E119", "ABF:I10"]
        assert segments(text, "HI")[1][1:] == ["ABK:J45909"]
        sv1 = segments(text, "SV1")
        assert sv1[0][1:5] == ["HC:99213:95", "120.00", "UN", "1"]
        assert sv1[0][7] == "1:2"
        # A line's own place of service where it differs from the claim's.
        assert sv1[1][1] == "HC:99417:95:25" and sv1[1][5] == "02" and sv1[1][7] == "2"
        assert segments(text, "DTP")[0] == ["DTP", "472", "D8", "20261120"]
        billing_provider = next(n for n in segments(text, "NM1") if n[1] == "85")
        assert billing_provider[3] == "Alpha Health PC" and billing_provider[9] == "1234567893"
        subscriber = next(n for n in segments(text, "NM1") if n[1] == "IL")
        assert subscriber[3:5] == ["Alpha", "Pat"] and subscriber[9] == "M123456"
        assert segments(text, "SBR")[0][1:4] == ["P", "18", "G77"]
        assert segments(text, "SBR")[0][9] == "CI"
        payer = next(n for n in segments(text, "NM1") if n[1] == "PR")
        assert payer[3] == "Acme Health" and payer[9] == "ACME1"
        assert segments(text, "DMG")[0] == ["DMG", "D8", "19800102", "F"]
        assert segments(text, "PAT") == []

        for encounter in (first, second):
            encounter.refresh_from_db()
            assert encounter.status == Encounter.Status.EXPORTED
            assert encounter.claim_batch == batch
        assert BillingProfile.objects.get().last_control_number == 1
        assert AuditEvent.objects.filter(
            action="export", object_type="billing.ClaimBatch", object_id=str(batch.pk)
        ).exists()
        # One event about both encounters.
        updated = AuditEvent.objects.get(action="update", detail="exported in 837P batch 1")
        assert {s.object_id for s in updated.subjects.all()} == {
            str(first.pk),
            str(second.pk),
        }
        with connection.cursor() as cursor:
            cursor.execute("SELECT content FROM billing_claimbatch")
            assert "CLM*" not in cursor.fetchone()[0]

    def test_a_dependent_patient_gets_the_2000c_patient_loop(self, ready_world):
        world = ready_world
        child = make_patient(
            world.practice,
            "Tim Alpha",
            "tim@alpha.test",
            login=False,
            phone="+16175550777",
            dob=date(2016, 3, 4),
            sex="male",
            address=HOME,
        )
        card(
            child,
            subscriber_name="Jane Q Alpha",
            relationship=InsuranceCard.Relationship.CHILD,
            subscriber_birth_date="1982-05-06",
            subscriber_sex="female",
            subscriber_address={
                "line1": "9 Oak Rd",
                "city": "Cambridge",
                "state": "MA",
                "postal_code": "021391234",
            },
        )
        encounter = signed_encounter(world, child)

        text = export(world, encounter).batch.content

        assert_valid(text)
        assert [level[3] for level in segments(text, "HL")] == ["20", "22", "23"]
        assert segments(text, "HL")[1][4] == "1"
        assert segments(text, "SBR")[0][2] == ""
        assert segments(text, "PAT")[0][1] == "19"
        subscriber = next(n for n in segments(text, "NM1") if n[1] == "IL")
        assert subscriber[3:5] == ["Alpha", "Jane Q"]
        patient = next(n for n in segments(text, "NM1") if n[1] == "QC")
        assert patient[3:5] == ["Alpha", "Tim"]
        assert [d[2:] for d in segments(text, "DMG")] == [["19820506", "F"], ["20160304", "M"]]
        assert ["N3", "9 Oak Rd"] in segments(text, "N3")

    def test_bad_encounters_are_refused_with_their_reasons_and_the_rest_go(self, ready_world):
        world = ready_world
        good = signed_encounter(world, world.patient)
        unknown_code = signed_encounter(world, world.patient, codes=("E11.9", "XYZ.1"))
        zero = signed_encounter(world, world.patient, lines=(("99213", [], "10", "0.00", [1]),))
        uninsured = make_patient(
            world.practice, "Una Alpha", "una@alpha.test", login=False, phone="+16175550555"
        )
        no_insurance = signed_encounter(world, uninsured)
        no_npi = signed_encounter(world, world.other_patient, provider=npi_less_provider(world))

        result = export(world, good, unknown_code, zero, no_insurance, no_npi)

        assert [e.pk for e in result.sent] == [good.pk]
        assert_valid(result.batch.content)
        assert [c[1] for c in segments(result.batch.content, "CLM")] == [f"E{good.pk}"]
        reasons = {c.encounter.pk: " ".join(c.reasons) for c in result.refused}
        assert "'XYZ.1' is not an ICD-10-CM code" in reasons[unknown_code.pk]
        assert "The charge for 99213 is zero." in reasons[zero.pk]
        assert "No insurance card on file" in reasons[no_insurance.pk]
        assert reasons[no_npi.pk] == "Dr Second has no NPI on file."
        for refused in (unknown_code, zero, no_insurance, no_npi):
            refused.refresh_from_db()
            assert refused.status == Encounter.Status.SIGNED and refused.claim_batch is None

    def test_nothing_is_written_when_no_encounter_can_go(self, ready_world):
        world = ready_world
        encounter = signed_encounter(world, world.patient, provider=npi_less_provider(world))

        result = export(world, encounter)

        assert result.batch is None and result.sent == []
        assert result.refused[0].reasons == ("Dr Second has no NPI on file.",)
        assert ClaimBatch.objects.count() == 0
        assert BillingProfile.objects.get().last_control_number == 0

    def test_the_ready_list_names_every_reason(self, ready_world):
        world = ready_world
        world.patient.insurance_cards.update(payer="Unknown Mutual")
        encounter = signed_encounter(world, world.patient, codes=(), lines=())
        Encounter.objects.filter(pk=encounter.pk).update(payer=None)

        (candidate,) = claims.claims_ready(practice=world.practice)

        assert not candidate.ready
        assert candidate.reasons == (
            "The insurer Unknown Mutual is not set up as a payer.",
            "No diagnosis: a claim needs at least one ICD-10-CM code.",
            "No claim lines: nothing to bill.",
        )

    def test_a_category_code_is_refused_with_codes_to_pick(self, ready_world):
        world = ready_world
        encounter = signed_encounter(world, world.patient, codes=("E11",))
        (candidate,) = claims.claims_ready(practice=world.practice)
        assert candidate.encounter == encounter
        assert "E11 (Type 2 diabetes mellitus) is a category" in candidate.reasons[0]

    def test_the_claim_carries_the_card_the_patient_had_on_the_date_of_service(self, ready_world):
        """The patient changed insurer after the visit: the claim goes to the payer of the
        date of service with that card's member id, never the new card's (which the superbill
        leaves out too)."""
        world = ready_world
        encounter = signed_encounter(world, world.patient)
        InsuranceCard.objects.filter(patient=world.patient).update(
            created_at=timezone.make_aware(datetime(2026, 10, 1)), is_current=False
        )
        card(world.patient, payer="Beta Health", member_id="B999", group_number="")

        result = export(world, encounter)

        assert result.batch is not None, result.refused
        text = result.batch.content
        assert_valid(text)
        [subscriber] = [s for s in segments(text, "NM1") if s[1] == "IL"]
        assert subscriber[9] == "M123456"
        [payer] = [s for s in segments(text, "NM1") if s[1] == "PR"]
        assert payer[3] == "Acme Health"

    def test_missing_policy_holder_details_are_a_reason(self, ready_world):
        world = ready_world
        world.patient.insurance_cards.update(relationship=InsuranceCard.Relationship.SPOUSE)
        signed_encounter(world, world.patient)
        (candidate,) = claims.claims_ready(practice=world.practice)
        assert candidate.reasons == (
            "Missing for the policy holder on the insurance card: date of birth, sex, address.",
        )

    def test_control_numbers_increase_and_an_encounter_goes_once(self, ready_world):
        world = ready_world
        first = signed_encounter(world, world.patient)
        second = signed_encounter(world, world.other_patient)

        one = export(world, first)
        two = export(world, second, first)

        assert (one.batch.control_number, two.batch.control_number) == (1, 2)
        assert [e.pk for e in two.sent] == [second.pk]
        assert [c.encounter.pk for c in two.refused] == [first.pk]
        assert segments(two.batch.content, "ISA")[0][13] == "000000002"
        assert BillingProfile.objects.get().last_control_number == 2
        again = export(world, first, second)
        assert again.batch is None and len(again.refused) == 2
        assert BillingProfile.objects.get().last_control_number == 2

    def test_a_validator_error_refuses_the_whole_batch_and_writes_nothing(
        self, ready_world, monkeypatch
    ):
        world = ready_world
        encounter = signed_encounter(world, world.patient)
        BillingProfile.objects.update(last_control_number=41)
        writer = claims.x12.claim_batch_837p

        def drops_diagnoses_in_batch_42(*args, control_number, **kwargs):
            # A writer bug that shows only in the batch itself, not in each claim's own check.
            text = writer(*args, control_number=control_number, **kwargs)
            if control_number != 42:
                return text
            return "".join(s for s in text.splitlines(keepends=True) if not s.startswith("HI*"))

        monkeypatch.setattr(claims.x12, "claim_batch_837p", drops_diagnoses_in_batch_42)

        with pytest.raises(claims.ClaimExportError) as refused:
            export(world, encounter)

        assert any("Health Care Diagnosis Code" in error for error in refused.value.errors)
        encounter.refresh_from_db()
        assert encounter.status == Encounter.Status.SIGNED and encounter.claim_batch is None
        assert ClaimBatch.objects.count() == 0
        assert BillingProfile.objects.get().last_control_number == 41
        assert not AuditEvent.objects.filter(action="export").exists()

    @pytest.mark.parametrize(
        ("kind", "filing_code"), [("medicare", "MB"), ("medicaid", "MC"), ("commercial", "CI")]
    )
    def test_the_claim_filing_code_follows_the_payer_profile(self, ready_world, kind, filing_code):
        world = ready_world
        world.practice.payers.update(profile_kind=kind)
        batch = export(world, signed_encounter(world, world.patient)).batch
        assert_valid(batch.content)
        assert segments(batch.content, "SBR")[0][9] == filing_code

    def test_the_ready_list_reads_in_a_fixed_number_of_queries(self, ready_world):
        world = ready_world
        signed_encounter(world, world.patient)
        signed_encounter(world, world.other_patient)
        with CaptureQueriesContext(connection) as two:
            assert len(claims.claims_ready(practice=world.practice)) == 2
        for patient in (world.patient, world.other_patient, world.patient):
            signed_encounter(world, patient)
        with CaptureQueriesContext(connection) as five:
            assert len(claims.claims_ready(practice=world.practice)) == 5
        assert len(five) == len(two) <= 8

    def test_the_exported_batch_comes_back_in_an_835_paid_and_denied(self, ready_world):
        """The round trip: the claims as exported, answered by the payer's 835, imported."""
        world = ready_world
        paid = signed_encounter(world, world.patient)
        denied = signed_encounter(world, world.other_patient)
        sent = {
            c.encounter.pk: c.claim
            for c in claims.claims_ready(practice=world.practice)
            if c.claim is not None
        }
        assert len(sent) == 2
        batch = export(world, paid, denied).batch
        assert_valid(batch.content)
        era = x12.remittance_835(
            payer=x12.Payer(
                "Acme Health",
                "1999999999",
                x12.Address("PO BOX 9", "DALLAS", "TX", "75201"),
                "8005550199",
            ),
            payee=x12.Payee("Alpha Health PC", "1234567893"),
            payments=(
                x12.ClaimPayment(
                    sent[paid.pk],
                    "PCN-1",
                    (
                        x12.LinePayment(
                            Decimal("100.00"), (x12.Adjustment("CO", "45", Decimal("20.00")),)
                        ),
                    ),
                ),
                x12.ClaimPayment(
                    sent[denied.pk],
                    "PCN-2",
                    (
                        x12.LinePayment(
                            Decimal(0), (x12.Adjustment("CO", "50", Decimal("120.00")),)
                        ),
                    ),
                ),
            ),
            check_number="EFT-1",
            payment_date=date(2026, 12, 2),
            control_number=7,
            now=timezone.now(),
            sender_id="ACME1",
            receiver_id="ALPHA01",
        )
        assert_valid(era)

        imported = remittance_import(practice=world.practice, content=era, by=world.admin)

        assert (imported.matched, imported.unmatched) == (2, 0)
        paid.refresh_from_db()
        denied.refresh_from_db()
        assert (paid.status, paid.paid_amount) == (Encounter.Status.PAID, Decimal("100.00"))
        assert denied.status == Encounter.Status.DENIED

    def test_an_empty_choice_or_no_profile_is_refused(self, world):
        with pytest.raises(claims.ClaimExportError, match="Choose at least one"):
            claims.claim_batch_export(practice=world.practice, encounter_ids=[], by=world.admin)
        with pytest.raises(claims.ClaimExportError, match="billing profile"):
            claims.claim_batch_export(practice=world.practice, encounter_ids=[1], by=world.admin)

    def test_another_practices_encounter_is_never_exported(self, ready_world):
        world = ready_world
        outsider = signed_encounter(world, world.outside_patient)
        result = export(world, outsider)
        assert result.batch is None
        outsider.refresh_from_db()
        assert outsider.status == Encounter.Status.SIGNED


def npi_less_provider(world):
    """world.other_clinician as a provider whose NPI was never entered."""
    return Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_exports_never_share_a_control_number_or_an_encounter(require_postgres, world):
    billing_set_up(world)
    encounters = []
    for patient in (world.patient, world.other_patient):
        patient.address = HOME
        patient.save(update_fields=["address"])
        card(patient)
        encounters += [signed_encounter(world, patient) for _ in range(2)]
    ids = [e.pk for e in encounters]
    runs = 4
    barrier = threading.Barrier(runs)
    outcomes: list[object] = []
    lock = threading.Lock()

    def run(chosen: list[int]) -> None:
        try:
            barrier.wait()
            outcome: object = claims.claim_batch_export(
                practice=world.practice, encounter_ids=chosen, by=world.admin
            )
        except Exception as exc:
            outcome = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    # Every run asks for overlapping encounters: all of them, or a rotating pair.
    choices = [ids, ids[0:2], ids[1:3], ids[2:4]]
    threads = [threading.Thread(target=run, args=(choice,)) for choice in choices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not [o for o in outcomes if isinstance(o, str)], outcomes
    batches = list(ClaimBatch.objects.order_by("control_number"))
    numbers = [b.control_number for b in batches]
    assert numbers == list(range(1, len(batches) + 1))
    sent = [e.pk for o in outcomes if o.batch is not None for e in o.sent]  # type: ignore[attr-defined]
    assert sorted(sent) == sorted(ids), "each encounter exported exactly once"
    claim_ids = [c[1] for b in batches for c in segments(b.content, "CLM")]
    assert sorted(claim_ids) == sorted(f"E{pk}" for pk in ids)
    assert BillingProfile.objects.get().last_control_number == numbers[-1]
    for batch in batches:
        assert_valid(batch.content)
    assert set(Encounter.objects.values_list("status", flat=True)) == {"exported"}


# Pages -----------------------------------------------------------------------------------


@pytest.mark.django_db
class TestPages:
    def test_the_claims_page_lists_ready_refused_and_past_batches(self, client, ready_world):
        world = ready_world
        ready = signed_encounter(world, world.patient)
        zero = signed_encounter(
            world, world.other_patient, lines=(("99213", [], "10", "0.00", [1]),)
        )
        sign_in(client, world.front_desk)

        page = client.get(reverse("billing:claims"))

        assert page.status_code == 200
        html = page.content.decode()
        assert f'name="encounter" value="{ready.pk}"' in html
        assert f'name="encounter" value="{zero.pk}"' not in html
        assert "Send the claim for Pat Alpha on 20 Nov 2026" in html
        assert "The charge for 99213 is zero." in html
        assert "no-store" in page["Cache-Control"]
        assert AuditEvent.objects.filter(action="view").about_record(ready).exists()

        exported = client.post(reverse("billing:claims-export"), {"encounter": [ready.pk]})
        assert exported.status_code == 302
        page = client.get(reverse("billing:claims")).content.decode()
        assert "Batch 000000001: 1 claim exported." in page
        assert "Download batch 000000001" in page
        assert "Desk" in page and "120.00" in page

    def test_download_is_an_audited_attachment_that_passes_pyx12(self, client, ready_world):
        world = ready_world
        encounter = signed_encounter(world, world.patient)
        batch = export(world, encounter).batch
        sign_in(client, world.admin)

        response = client.get(reverse("billing:claims-download", kwargs={"batch_id": batch.pk}))

        assert response.status_code == 200
        assert response["Content-Disposition"] == 'attachment; filename="837P-000000001.txt"'
        assert "no-store" in response["Cache-Control"]
        assert_valid(response.content.decode())
        # One event names the batch and the patients in the file: each one's record shows it
        # left the practice.
        downloads = AuditEvent.objects.filter(
            action="export", actor=world.admin, detail="837P batch 1 downloaded"
        )
        assert downloads.about_record(batch).get() == downloads.about_record(encounter).get()
        assert downloads.about_patient(world.patient).exists()

    def test_a_batch_that_no_longer_validates_is_not_downloaded(self, client, ready_world):
        world = ready_world
        batch = export(world, signed_encounter(world, world.patient)).batch
        ClaimBatch.objects.filter(pk=batch.pk).update(
            content=batch.content.replace("SV1*HC:99213:95*120.00*UN", "SV1*HC:99213:95*120.00*XX")
        )
        sign_in(client, world.front_desk)
        response = client.get(reverse("billing:claims-download", kwargs={"batch_id": batch.pk}))
        assert response.status_code == 409
        assert b"SV103" in response.content

    def test_exporting_nothing_answers_400_with_the_reason(self, client, ready_world):
        sign_in(client, ready_world.front_desk)
        response = client.post(reverse("billing:claims-export"), {})
        assert response.status_code == 400
        assert "Choose at least one encounter to export." in response.content.decode()
        response = client.post(reverse("billing:claims-export"), {"encounter": ["x"]})
        assert response.status_code == 400

    def test_clinicians_and_patients_cannot_reach_claims(self, client, ready_world):
        world = ready_world
        batch = export(world, signed_encounter(world, world.patient)).batch
        for user in (world.clinician, world.patient.user):
            sign_in(client, user)
            assert client.get(reverse("billing:claims")).status_code == 403
            assert client.post(reverse("billing:claims-export")).status_code == 403
            url = reverse("billing:claims-download", kwargs={"batch_id": batch.pk})
            assert client.get(url).status_code == 403
        sign_in(client, world.outside_clinician)
        assert client.get(reverse("billing:claims")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_an_amendment_during_an_export_never_changes_a_claim_already_built(
    require_postgres, ready_world, monkeypatch
):
    """The export has built the claim from the encounter's lines when an amendment after
    signing arrives. Without the export locking the encounters it sends, the amendment
    commits, the export then marks the encounter exported, and the batch carries lines the
    encounter no longer has. With the lock the amendment waits, then finds the claim gone."""
    from billing import review, services
    from billing.models import Payer

    world = ready_world
    encounter = signed_encounter(world, world.patient)
    encounter.payer = Payer.objects.get(practice=world.practice, name="Acme Health")
    encounter.save(update_fields=["payer"])
    assert services.encounter_problems(encounter) == []
    read, amended = threading.Event(), threading.Event()
    real_assess_all = claims.assess_all

    def assess_all_then_pause(*args, **kwargs):
        candidates = real_assess_all(*args, **kwargs)
        read.set()
        amended.wait(timeout=3)
        return candidates

    monkeypatch.setattr(claims, "assess_all", assess_all_then_pause)
    outcomes: dict[str, object] = {}

    def export_run() -> None:
        try:
            outcomes["export"] = export(world, encounter)
        except Exception as exc:
            outcomes["export"] = f"error: {exc!r}"
        finally:
            connection.close()

    def amend_run() -> None:
        try:
            read.wait(timeout=10)
            line = encounter.lines.get()
            review.lines_set(
                encounter=encounter,
                by=world.clinician,
                reason="Two units were given",
                lines=[
                    review.LineInput(
                        code=line.code,
                        modifiers=tuple(line.modifiers),
                        place_of_service=line.place_of_service,
                        units=2,
                        diagnosis_pointers=tuple(line.diagnosis_pointers),
                    )
                ],
            )
            outcomes["amend"] = "done"
        except review.ReviewError as error:
            outcomes["amend"] = error.message
        except Exception as exc:
            outcomes["amend"] = f"error: {exc!r}"
        finally:
            amended.set()
            connection.close()

    threads = [threading.Thread(target=export_run), threading.Thread(target=amend_run)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not isinstance(outcomes["export"], str), outcomes
    batch = ClaimBatch.objects.get()
    units = [sv1[4] for sv1 in segments(batch.content, "SV1")]
    current = Encounter.objects.get(pk=encounter.pk)
    assert current.status == Encounter.Status.EXPORTED
    assert [line.units for line in current.lines.all()] == [int(u) for u in units], outcomes
    assert "already gone out" in str(outcomes["amend"]), outcomes
