"""835 remittance import: claims we exported come back paid, adjusted or denied with the
reasons in words; a payment is imported once; a file that is not a valid 835, a claim that is
not ours (unknown, another practice's, never sent, already settled, reversed) changes nothing.
The published pyx12 example is imported into a practice that never sent its claim."""

import datetime as dt
import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing.models import ClaimBatch, ClaimLine, Encounter, Payer, Remittance
from billing.remittances import RemittanceImportError, remittance_import
from billing.views import remittances as remittance_views
from billing.x12 import (
    Address,
    Adjustment,
    BillingProvider,
    Claim,
    ClaimPayment,
    LinePayment,
    Payee,
    Receiver,
    ServiceLine,
    Submitter,
    Subscriber,
    claim_batch_837p,
    remittance_835,
    validate,
)
from billing.x12 import ClaimBatch as Batch837
from billing.x12 import Payer as Payer835
from telehealth.audit.models import AuditEvent
from tests.conftest import sign_in

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x12"
NOW = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 20)
CLINIC = BillingProvider(
    name="ALPHA HEALTH PC",
    npi="1234567893",
    ein="123456789",
    address=Address("1 MAIN ST", "BOSTON", "MA", "021101234"),
)
PAYER = Payer835(
    "ACME HEALTH", "1999999999", Address("PO BOX 9", "HARTFORD", "CT", "06101"), "8005550199"
)
SUBSCRIBER = Subscriber(
    payer_name="ACME HEALTH",
    payer_id="ACME1",
    member_id="M123",
    last_name="ALPHA",
    first_name="PAT",
    birth_date=dt.date(1980, 1, 2),
    sex="F",
    address=Address("12 ELM ST", "BOSTON", "MA", "02110"),
)

_sources = iter(range(1, 10_000))


def exported_encounter(world, patient, lines, *, status=Encounter.Status.EXPORTED, day=DAY):
    """An encounter with its claim lines, marked as sent in a claim batch (the 837P export is
    tested on its own)."""
    practice = patient.practice
    staff = world.admin if practice == world.practice else world.outside_clinician
    payer, _ = Payer.objects.get_or_create(
        practice=practice, name="Acme Health", defaults={"payer_id": "ACME1"}
    )
    batch = None
    if status == Encounter.Status.EXPORTED:
        batch = ClaimBatch.objects.create(
            practice=practice,
            control_number=next(_sources),
            created_by=staff,
            content="ISA*00*",
            claim_count=1,
            total_charge=sum((Decimal(charge) for _, _, charge in lines), Decimal(0)),
        )
    encounter = Encounter.objects.create(
        practice=practice,
        patient=patient,
        kind=Encounter.Kind.MONITORING,
        source=f"rpm:{patient.pk}:{next(_sources)}",
        date_of_service=day,
        payer=payer,
        status=status,
        signed_by=staff,
        signed_at=timezone.now(),
        claim_batch=batch,
    )
    for position, (code, modifiers, charge) in enumerate(lines, 1):
        ClaimLine.objects.create(
            encounter=encounter,
            position=position,
            code=code,
            modifiers=modifiers,
            place_of_service="10",
            charge=Decimal(charge),
            diagnosis_pointers=[1],
        )
    return encounter


def claim_of(encounter, *, claim_id=None, lines=None) -> Claim:
    """The claim our 837P sent for the encounter: CLM01 is its claim number."""
    return Claim(
        claim_id=claim_id or encounter.claim_number,
        billing_provider=CLINIC,
        subscriber=SUBSCRIBER,
        diagnosis_codes=("E11.9",),
        lines=lines
        or tuple(
            ServiceLine(
                line.code,
                line.charge,
                encounter.date_of_service,
                (1,),
                modifiers=tuple(line.modifiers),
            )
            for line in encounter.lines.all()
        ),
        place_of_service="10",
    )


def era(*payments: ClaimPayment, trace="EFT7788", control_number=55) -> str:
    text = remittance_835(
        payer=PAYER,
        payee=Payee(CLINIC.name, CLINIC.npi),
        payments=payments,
        check_number=trace,
        payment_date=dt.date(2026, 12, 2),
        control_number=control_number,
        now=NOW,
        sender_id="ACME1",
        receiver_id="ALPHA01",
    )
    assert validate(text) == []
    return text


def paid_in_full(encounter, *, pcn="PCN-9") -> ClaimPayment:
    return ClaimPayment(
        claim_of(encounter), pcn, tuple(LinePayment(line.charge) for line in encounter.lines.all())
    )


@pytest.fixture
def claims(world):
    """Two exported claims: a video visit with a monitoring line, and a management line."""
    visit = exported_encounter(
        world, world.patient, [("99214", ["95"], "165.00"), ("99454", [], "48.00")]
    )
    management = exported_encounter(world, world.other_patient, [("99457", [], "52.00")])
    return visit, management


def round_trip_era(visit, management) -> str:
    return era(
        ClaimPayment(
            claim_of(visit),
            "PCN-001",
            (
                LinePayment(
                    Decimal("110.00"),
                    (
                        Adjustment("CO", "45", Decimal("35.00")),
                        Adjustment("PR", "3", Decimal("20.00")),
                    ),
                ),
                LinePayment(Decimal("48.00")),
            ),
        ),
        ClaimPayment(
            claim_of(management),
            "PCN-002",
            (LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),), ("N130",)),),
            remarks=("MA130",),
        ),
    )


def upload(client, text: str | bytes, name="era.835"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        reverse("billing:remittance-import"),
        {"file": SimpleUploadedFile(name, data, content_type="text/plain")},
    )


def snapshot(*encounters) -> list[tuple]:
    """What an import may change, to show it changed nothing."""
    rows = []
    for encounter in encounters:
        encounter.refresh_from_db()
        rows.append(
            (
                encounter.status,
                encounter.paid_amount,
                encounter.payer_claim_number,
                encounter.remittance_id,
                [(line.paid, line.adjustments, line.remarks) for line in encounter.lines.all()],
            )
        )
    return rows


class TestRoundTrip:
    def test_paid_adjusted_and_denied_lines_are_marked_with_reasons(self, world, claims):
        visit, management = claims
        result = remittance_import(
            practice=world.practice, content=round_trip_era(visit, management), by=world.admin
        )

        assert (result.matched, result.unmatched) == (2, 0)
        assert (result.paid_total, result.denied_lines) == (Decimal("158.00"), 1)
        remittance = result.remittance
        assert (remittance.payer_name, remittance.trace_number) == ("ACME HEALTH", "EFT7788")
        assert remittance.total_paid == Decimal("158.00")
        assert remittance.payment_date == dt.date(2026, 12, 2)
        assert remittance.unmatched == [] and remittance.matched_claims == 2

        visit.refresh_from_db()
        assert visit.status == Encounter.Status.PAID
        assert (visit.paid_amount, visit.payer_claim_number) == (Decimal("158.00"), "PCN-001")
        assert visit.remittance == remittance
        adjusted, paid = visit.lines.all()
        assert adjusted.paid == Decimal("110.00")
        assert adjusted.adjustments == [
            {"group": "CO", "reason": "45", "amount": "35.00"},
            {"group": "PR", "reason": "3", "amount": "20.00"},
        ]
        assert (paid.paid, paid.adjustments, paid.remarks) == (Decimal("48.00"), [], [])

        management.refresh_from_db()
        assert management.status == Encounter.Status.DENIED
        assert (management.paid_amount, management.payer_claim_number) == (0, "PCN-002")
        (denied,) = management.lines.all()
        assert denied.paid == 0
        assert denied.adjustments == [{"group": "CO", "reason": "50", "amount": "52.00"}]
        assert denied.remarks == ["N130"]
        assert remittance.claims[1]["remarks"] == ["MA130"]

    def test_the_import_is_audited_for_the_payment_and_each_patient(self, world, claims):
        visit, management = claims
        remittance_import(
            practice=world.practice, content=round_trip_era(visit, management), by=world.admin
        )
        update = AuditEvent.objects.get(action="update", detail__startswith="835 trace")
        assert {(s.object_id, s.patient_id) for s in update.subjects.all()} == {
            (str(visit.pk), visit.patient_id),
            (str(management.pk), management.patient_id),
        }
        assert AuditEvent.objects.filter(
            action="create", object_type="billing.Remittance", actor=world.admin
        ).exists()

    def test_the_payment_page_shows_each_line_in_words(self, client, world, claims):
        visit, management = claims
        sign_in(client, world.front_desk)
        response = upload(client, round_trip_era(visit, management))
        remittance = Remittance.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse(
            "billing:remittance", kwargs={"remittance_id": remittance.pk}
        )
        page = client.get(response["Location"]).content.decode()
        assert "Payment imported. Claims matched: 2. Not matched: 0. Lines denied: 1." in page
        assert "Pat Alpha" in page and "Other Alpha" in page
        assert "Paid in part" in page and "Denied" in page
        assert "The charge is above the fee schedule or contracted amount." in page
        assert "Co-payment: the patient owes this fixed amount." in page
        assert "Not covered: the payer does not consider it medically necessary." in page
        assert "See the plan&#x27;s benefit documents for limits on this service." in page
        assert "The claim cannot be appealed as sent" in page  # MA130, about the whole claim
        assert "Every claim in this payment was matched." in page

    def test_denials_list_the_lines_to_work_and_not_the_ones_paid(self, client, world, claims):
        visit, management = claims
        remittance_import(
            practice=world.practice, content=round_trip_era(visit, management), by=world.admin
        )
        sign_in(client, world.front_desk)
        page = client.get(reverse("billing:denials")).content.decode()
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)[1:]
        assert len(rows) == 2, rows  # the denied line and the one cut below its charge
        denied, adjusted = sorted(rows, key=lambda row: "99214" in row)
        assert "Other Alpha" in denied and "99457" in denied and "Denied" in denied
        assert "CO-50" in denied and "medically necessary" in denied and "N130" in denied
        assert "Pat Alpha" in adjusted and "Paid in part" in adjusted and "CO-45" in adjusted
        assert "99454" not in page
        url = reverse("billing:encounter", kwargs={"encounter_id": management.pk})
        assert f'href="{url}"' in denied

    def test_a_line_wholly_to_the_deductible_is_processed_not_denied(self, world):
        encounter = exported_encounter(world, world.patient, [("99213", ["95"], "120.00")])
        text = era(
            ClaimPayment(
                claim_of(encounter),
                "PCN-3",
                (LinePayment(Decimal(0), (Adjustment("PR", "1", Decimal("120.00")),)),),
            )
        )
        result = remittance_import(practice=world.practice, content=text, by=world.admin)
        encounter.refresh_from_db()
        assert (encounter.status, encounter.paid_amount) == (Encounter.Status.PAID, 0)
        assert result.denied_lines == 0

    def test_lines_with_the_same_code_are_matched_in_order(self, world):
        encounter = exported_encounter(
            world, world.patient, [("99454", [], "48.00"), ("99454", [], "50.00")]
        )
        text = era(
            ClaimPayment(
                claim_of(encounter),
                "PCN-4",
                (
                    LinePayment(Decimal("48.00")),
                    LinePayment(Decimal(0), (Adjustment("CO", "18", Decimal("50.00")),)),
                ),
            )
        )
        remittance_import(practice=world.practice, content=text, by=world.admin)
        first, second = encounter.lines.all()
        assert (first.paid, second.paid) == (Decimal("48.00"), 0)
        assert second.adjustments[0]["reason"] == "18"

    def test_a_line_paid_under_another_code_is_matched_by_the_code_submitted_in_svc06(self, world):
        # 005010X221A1 2110 SVC: when the payer adjudicates a different procedure than the
        # one billed, SVC01 holds the adjudicated one and SVC06 the one submitted.
        encounter = exported_encounter(
            world, world.patient, [("99214", ["95"], "165.00"), ("99454", [], "48.00")]
        )
        text = era(
            ClaimPayment(
                claim_of(encounter),
                "PCN-6",
                (
                    LinePayment(Decimal("100.00"), (Adjustment("CO", "45", Decimal("65.00")),)),
                    LinePayment(Decimal("48.00")),
                ),
            )
        )
        billed = "SVC*HC:99214:95*165.00*100.00**1"
        assert billed in text
        recoded = text.replace(billed, "SVC*HC:99213:95*165.00*100.00**1*HC:99214:95")
        assert validate(recoded) == []

        result = remittance_import(practice=world.practice, content=recoded, by=world.admin)

        assert (result.matched, result.unmatched) == (1, 0)
        encounter.refresh_from_db()
        assert (encounter.status, encounter.paid_amount) == (
            Encounter.Status.PAID,
            Decimal("148.00"),
        )
        first, second = encounter.lines.all()
        assert (first.code, first.paid) == ("99214", Decimal("100.00"))
        assert first.adjustments == [{"group": "CO", "reason": "45", "amount": "65.00"}]
        assert second.paid == Decimal("48.00")


class TestNothingChanged:
    def test_the_published_pyx12_835_is_all_unmatched_in_a_practice_that_never_sent_it(
        self, world, claims
    ):
        before = snapshot(*claims)
        text = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
        result = remittance_import(practice=world.practice, content=text, by=world.admin)
        assert (result.matched, result.unmatched, result.denied_lines) == (0, 1, 0)
        assert result.paid_total == 0
        assert result.remittance.unmatched == [
            {
                "claim": "2005555A",
                "status": "4",
                "charge": "915.39",
                "paid": "0",
                "reason": "unknown",
            }
        ]
        assert snapshot(*claims) == before
        assert not AuditEvent.objects.filter(object_type="billing.Encounter").exists()

    def test_the_unmatched_claim_is_listed_with_the_reason_in_words(self, client, world):
        text = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
        sign_in(client, world.admin)
        response = upload(client, text)
        page = client.get(response["Location"]).content.decode()
        assert "2005555A" in page
        assert "No claim of this practice has this number." in page
        assert "No claim in this payment matched a claim we sent." in page

    def test_another_practices_claim_number_is_unmatched_and_left_alone(self, world, claims):
        theirs = exported_encounter(world, world.outside_patient, [("99457", [], "52.00")])
        before = snapshot(theirs)
        result = remittance_import(
            practice=world.practice, content=era(paid_in_full(theirs)), by=world.admin
        )
        assert result.matched == 0
        assert result.remittance.unmatched[0]["claim"] == theirs.claim_number
        assert result.remittance.unmatched[0]["reason"] == "unknown"
        assert snapshot(theirs) == before

    def test_an_encounter_that_was_not_exported_is_unmatched(self, world):
        signed = exported_encounter(
            world, world.patient, [("99213", [], "120.00")], status=Encounter.Status.SIGNED
        )
        before = snapshot(signed)
        result = remittance_import(
            practice=world.practice, content=era(paid_in_full(signed)), by=world.admin
        )
        assert result.remittance.unmatched[0]["reason"] == "not_sent"
        assert snapshot(signed) == before

    def test_a_service_line_not_on_the_claim_leaves_the_whole_claim_alone(self, world, claims):
        visit, _ = claims
        other_code = (ServiceLine("99215", Decimal("165.00"), DAY, (1,)),) + tuple(
            ServiceLine("99454", Decimal("48.00"), DAY, (1,)) for _ in range(1)
        )
        text = era(
            ClaimPayment(
                claim_of(visit, lines=other_code),
                "PCN",
                (LinePayment(Decimal("165.00")), LinePayment(Decimal("48.00"))),
            )
        )
        before = snapshot(visit)
        result = remittance_import(practice=world.practice, content=text, by=world.admin)
        assert result.remittance.unmatched[0]["reason"] == "line_not_on_claim"
        assert result.remittance.unmatched[0]["detail"] == "99215"
        assert snapshot(visit) == before

    def test_a_second_answer_for_a_settled_claim_is_not_applied(self, world, claims):
        visit, management = claims
        remittance_import(
            practice=world.practice, content=round_trip_era(visit, management), by=world.admin
        )
        before = snapshot(visit, management)
        again = era(paid_in_full(management, pcn="PCN-LATER"), trace="EFT9999")
        result = remittance_import(practice=world.practice, content=again, by=world.admin)
        assert result.matched == 0
        assert result.remittance.unmatched[0]["reason"] == "settled"
        assert snapshot(visit, management) == before

    def test_a_reversal_is_not_applied_automatically(self, client, world, claims):
        visit, _ = claims
        text = era(paid_in_full(visit))
        reversal = text.replace(f"CLP*{visit.claim_number}*1*", f"CLP*{visit.claim_number}*22*")
        assert reversal != text and validate(reversal) == []
        before = snapshot(visit)
        sign_in(client, world.admin)
        page = client.get(upload(client, reversal)["Location"]).content.decode()
        assert "A reversal of an earlier payment: not applied automatically" in page
        assert snapshot(visit) == before


class TestRefused:
    def test_the_same_payment_twice_is_refused(self, client, world, claims):
        visit, management = claims
        text = round_trip_era(visit, management)
        remittance_import(practice=world.practice, content=text, by=world.admin)
        before = snapshot(visit, management)
        with pytest.raises(RemittanceImportError, match="already imported: trace number EFT7788"):
            remittance_import(practice=world.practice, content=text, by=world.admin)
        sign_in(client, world.front_desk)
        response = upload(client, text)
        assert response.status_code == 400
        assert "This payment was already imported: trace number EFT7788 from ACME HEALTH." in (
            response.content.decode()
        )
        assert Remittance.objects.count() == 1
        assert snapshot(visit, management) == before

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"Dear provider, your payment is on its way.", "Not an X12 document"),
            (b"", "The submitted file is empty."),
            (b"\xff\xfe\x00garbage", "The file is not a text file"),
        ],
    )
    def test_a_garbage_file_is_refused_with_400_and_nothing_written(
        self, client, world, claims, content, message
    ):
        before = snapshot(*claims)
        sign_in(client, world.front_desk)
        response = upload(client, content)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert Remittance.objects.count() == 0
        assert snapshot(*claims) == before

    @pytest.mark.parametrize(
        ("old", "new", "named"),
        [
            ("BPR*I*165.00*", "BPR*I*1650000000.00*", "BPR02 1650000000.00"),
            ("*165.00*165.00*0.00*", "*165.00*16500000.00*0.00*", "CLP E"),
        ],
    )
    def test_an_amount_too_large_to_store_is_refused_with_400_and_nothing_written(
        self, client, world, old, new, named
    ):
        # X12 allows 18 digits; the columns hold less. PostgreSQL answered numeric field
        # overflow (a 500 after the remittance row was begun); SQLite stored it as given.
        encounter = exported_encounter(world, world.patient, [("99214", [], "165.00")])
        text = era(paid_in_full(encounter))
        assert old in text
        before = snapshot(encounter)
        sign_in(client, world.front_desk)
        response = upload(client, text.replace(old, new))
        assert response.status_code == 400
        page = response.content.decode()
        assert "amounts too large to be a payment" in page and named in page
        assert Remittance.objects.count() == 0
        assert snapshot(encounter) == before

    def test_a_broken_835_is_refused_with_the_validators_words(self, client, world):
        published = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
        sign_in(client, world.admin)
        response = upload(client, published.replace("SE*31*0001~", "SE*30*0001~"))
        assert response.status_code == 400
        assert "SE count of 30 for SE02=0001 is wrong" in response.content.decode()
        assert Remittance.objects.count() == 0

    def test_a_claim_file_is_not_a_remittance(self, world, claims):
        visit, _ = claims
        claims_837 = claim_batch_837p(
            Batch837(
                Submitter("ALPHA HEALTH PC", "ALPHA01", "BILLING", "6175550100"),
                Receiver("CLEARING HOUSE", "CLEAR01"),
                (claim_of(visit),),
            ),
            control_number=7,
            now=NOW,
        )
        with pytest.raises(RemittanceImportError, match="not a remittance .835. file"):
            remittance_import(practice=world.practice, content=claims_837, by=world.admin)
        assert Remittance.objects.count() == 0

    def test_a_file_of_two_payments_is_refused(self, world, claims):
        visit, management = claims
        text = era(paid_in_full(visit), trace="A1", control_number=1) + era(
            paid_in_full(management), trace="A2", control_number=2
        )
        with pytest.raises(RemittanceImportError, match="holds 2 payments"):
            remittance_import(practice=world.practice, content=text, by=world.admin)
        assert Remittance.objects.count() == 0


class TestPages:
    def test_denials_show_the_newest_lines_up_to_a_bound_and_audit_each_encounter_once(
        self, client, world, monkeypatch
    ):
        # Every line with a contractual adjustment is listed, so the page grew without end
        # and wrote one audit event per line; now at most DENIALS_SHOWN lines, one event per
        # encounter.
        monkeypatch.setattr(remittance_views, "DENIALS_SHOWN", 2)
        older = exported_encounter(
            world, world.patient, [("99454", [], "48.00")], day=DAY - dt.timedelta(days=10)
        )
        newer = exported_encounter(
            world, world.other_patient, [("99457", [], "52.00"), ("99458", [], "40.00")]
        )
        cut = (Adjustment("CO", "45", Decimal("10.00")),)
        text = era(
            ClaimPayment(claim_of(older), "PCN-7", (LinePayment(Decimal("38.00"), cut),)),
            ClaimPayment(
                claim_of(newer),
                "PCN-8",
                (LinePayment(Decimal("42.00"), cut), LinePayment(Decimal("30.00"), cut)),
            ),
        )
        remittance_import(practice=world.practice, content=text, by=world.admin)
        sign_in(client, world.front_desk)

        page = client.get(reverse("billing:denials")).content.decode()

        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)[1:]
        assert len(rows) == 2 and all("Other Alpha" in row for row in rows)
        assert "Showing the newest 2 lines." in page
        views = AuditEvent.objects.filter(
            action="view", object_type="billing.Encounter", actor=world.front_desk
        )
        assert [event.object_id for event in views] == [str(newer.pk)]

    def test_the_list_has_a_labelled_file_input_and_the_past_imports(self, client, world):
        text = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
        remittance_import(practice=world.practice, content=text, by=world.admin)
        sign_in(client, world.front_desk)
        page = client.get(reverse("billing:remittances")).content.decode()
        assert re.search(r'<label for="id_file">835 remittance file</label>', page)
        assert re.search(r'<input type="file" name="file"[^>]*id="id_file"', page)
        assert re.search(r'<button type="submit"[^>]*>Import</button>', page)
        assert "000000000" in page and "PAYER" in page

    def test_clinicians_and_patients_cannot_import(self, client, world):
        text = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
        for user in (world.clinician, world.patient.user):
            sign_in(client, user)
            assert upload(client, text).status_code == 403
        assert Remittance.objects.count() == 0

    def test_another_practice_sees_neither_the_payment_nor_its_denials(self, client, world):
        from tests.conftest import make_staff

        theirs = exported_encounter(world, world.outside_patient, [("99457", [], "52.00")])
        text = era(
            ClaimPayment(
                claim_of(theirs),
                "P",
                (LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),)),),
            )
        )
        outside_desk = make_staff(world.outside_practice, "front_desk", "desk@beta.test", "Desk B")
        remittance = remittance_import(
            practice=world.outside_practice, content=text, by=outside_desk
        ).remittance
        sign_in(client, world.front_desk)
        detail = reverse("billing:remittance", kwargs={"remittance_id": remittance.pk})
        assert client.get(detail).status_code == 404
        assert "Pat Beta" not in client.get(reverse("billing:denials")).content.decode()
        sign_in(client, outside_desk)
        assert "Pat Beta" in client.get(reverse("billing:denials")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_same_payment_imported_twice_at_once_is_applied_once(require_postgres, world):
    visit = exported_encounter(world, world.patient, [("99213", ["95"], "120.00")])
    text = era(paid_in_full(visit))
    runs = 4
    barrier = threading.Barrier(runs)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            remittance_import(practice=world.practice, content=text, by=world.admin)
            outcome = "imported"
        except RemittanceImportError as error:
            outcome = str(error)
        except Exception as error:  # anything else is a failure the assertion shows
            outcome = f"error: {error!r}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=lambda outcome: outcome != "imported") == ["imported"] + [
        "This payment was already imported: trace number EFT7788 from ACME HEALTH. "
        "Importing it again would pay its claims twice."
    ] * (runs - 1)
    assert Remittance.objects.count() == 1
    visit.refresh_from_db()
    assert (visit.status, visit.paid_amount) == (Encounter.Status.PAID, Decimal("120.00"))
    assert AuditEvent.objects.filter(object_type="billing.Encounter").count() == 1


@pytest.mark.usefixtures("without_session_cache")
def test_the_pages_cost_the_same_queries_for_one_claim_or_many(client, world):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    def denied_payment(count: int, trace: str) -> str:
        encounters = [
            exported_encounter(world, world.patient, [("99457", [], "52.00")]) for _ in range(count)
        ]
        return era(
            *(
                ClaimPayment(
                    claim_of(encounter),
                    "P",
                    (LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),)),),
                )
                for encounter in encounters
            ),
            trace=trace,
        )

    sign_in(client, world.front_desk)
    costs = []
    # From two claims: a page about one record writes its audit event in one statement fewer.
    for count, trace in ((2, "T2"), (5, "T5")):
        remittance = remittance_import(
            practice=world.practice, content=denied_payment(count, trace), by=world.admin
        ).remittance
        detail = reverse("billing:remittance", kwargs={"remittance_id": remittance.pk})
        with CaptureQueriesContext(db) as on_detail:
            assert client.get(detail).status_code == 200
        with CaptureQueriesContext(db) as on_denials:
            assert client.get(reverse("billing:denials")).status_code == 200
        costs.append((len(on_detail), len(on_denials)))
    assert costs[0] == costs[1], costs
