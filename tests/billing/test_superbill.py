"""Superbills: the PDF's text (extracted, as an insurer's software would read it) carries the
practice, provider, patient, insurance, diagnoses, lines and totals; only the patient it
belongs to and the practice's staff who may read the encounter get it, and only once signed;
every download is audited; the patient's portal lists theirs."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from billing.models import ClaimLine, Encounter, EncounterDiagnosis
from billing.superbill import Diagnosis, Insurance, Line, Superbill, superbill_pdf
from intake.models import InsuranceCard
from scheduling.models import Appointment
from telehealth.audit.models import AuditEvent
from tests.billing.test_encounters import billing_set_up
from tests.conftest import sign_in
from tests.core.test_access_matrix import make_encounter


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


def pdf_text(content: bytes) -> str:
    """All pages' text with runs of white space made one space, as a search would see it."""
    reader = PdfReader(BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def card(patient, *, payer="Acme Health", member_id="W100200300", created_at=None, current=True):
    return InsuranceCard.objects.create(
        patient=patient,
        payer=payer,
        member_id=member_id,
        group_number="GRP77",
        subscriber_name=patient.legal_name,
        front="insurance/front.png",
        front_type="image/png",
        is_current=current,
        **({"created_at": created_at} if created_at else {}),
    )


def superbill_of(world, patient=None, **changes):
    """A signed encounter with two diagnoses and two lines, and the patient's address."""
    patient = patient or world.patient
    patient.address = {
        "line1": "12 Elm Street",
        "city": "Cambridge",
        "state": "MA",
        "postal_code": "02139",
    }
    patient.save(update_fields=["address"])
    encounter = make_encounter(patient)
    # Its appointment moves out of the way of the next one's (the same hour, the same provider:
    # PostgreSQL's exclusion constraint refuses the overlap).
    earlier = timedelta(days=7 * Encounter.objects.count())
    Appointment.objects.filter(pk=encounter.visit.appointment_id).update(
        start=F("start") - earlier,
        end=F("end") - earlier,
        blocked_start=F("blocked_start") - earlier,
        blocked_end=F("blocked_end") - earlier,
    )
    EncounterDiagnosis.objects.create(
        encounter=encounter,
        position=1,
        code="E11.9",
        description="Type 2 diabetes mellitus without complications",
    )
    EncounterDiagnosis.objects.create(
        encounter=encounter, position=2, code="I10", description="Essential (primary) hypertension"
    )
    ClaimLine.objects.create(
        encounter=encounter,
        position=2,
        code="G2211",
        place_of_service="10",
        charge=Decimal("16.50"),
        diagnosis_pointers=[1, 2],
    )
    if changes:
        Encounter.objects.filter(pk=encounter.pk).update(**changes)
        encounter.refresh_from_db()
    return encounter


def get_superbill(client, user, encounter):
    sign_in(client, user)
    return client.get(reverse("billing:superbill", kwargs={"encounter_id": encounter.pk}))


@pytest.mark.django_db
class TestTheDocument:
    def test_its_text_has_practice_provider_patient_insurance_diagnoses_lines_and_totals(
        self, client, world
    ):
        billing_set_up(world)
        card(world.patient)
        encounter = superbill_of(world)

        response = get_superbill(client, world.patient.user, encounter)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        text = pdf_text(response.content)
        for expected in (
            "Alpha Health PC",  # the billing name
            "1 Main St",
            "Boston, MA 02110-1234",
            "Group NPI 1234567893",
            "Tax ID (EIN) 12-3456789",
            "Dr Alpha",  # the rendering provider
            "NPI 1234567893",
            "Pat Alpha",
            "Date of birth 01/02/1980",
            "12 Elm Street",
            "Cambridge, MA 02139",
            "Payer Acme Health",
            "Member ID W100200300",
            "Group number GRP77",
            "Date of service 03/02/2026",
            "Place of service 10 Telehealth provided in patient's home",
            "1 E11.9 Type 2 diabetes mellitus without complications",
            "2 I10 Essential (primary) hypertension",
            "03/02/2026 99213 95 10 1 1 $120.00",
            "03/02/2026 G2211 10 1 1, 2 $16.50",
            "Total charges $136.50",
            "Balance $136.50",
            f"Superbill {encounter.claim_number}",
        ):
            assert expected in text, expected
        assert "Paid by insurance" not in text  # no remittance yet

    def test_it_is_inline_with_a_filename_and_never_cached(self, client, world):
        encounter = superbill_of(world)

        response = get_superbill(client, world.patient.user, encounter)

        assert response["Content-Disposition"] == (
            f'inline; filename="superbill-2026-03-02-E{encounter.pk}.pdf"'
        )
        assert "no-store" in response["Cache-Control"]

    def test_a_remittance_payment_shows_as_paid_and_lowers_the_balance(self, client, world):
        encounter = superbill_of(world, status=Encounter.Status.PAID, paid_amount=Decimal("100.00"))

        text = pdf_text(get_superbill(client, world.admin, encounter).content)

        assert "Paid by insurance $100.00" in text
        assert "Balance $36.50" in text

    def test_the_balance_is_the_patients_share_not_what_the_payer_wrote_off(self, client, world):
        # 99213 $120.00: paid 90.00, CO-45 20.00 written off, PR-2 10.00 coinsurance;
        # G2211 $16.50: paid 10.00, CO-45 6.50. The patient owes the PR 10.00, not
        # 136.50 - 100.00 = 36.50.
        encounter = superbill_of(world, status=Encounter.Status.PAID, paid_amount=Decimal("100.00"))
        visit_line, add_on = encounter.lines.all()
        visit_line.paid = Decimal("90.00")
        visit_line.adjustments = [
            {"group": "CO", "reason": "45", "amount": "20.00"},
            {"group": "PR", "reason": "2", "amount": "10.00"},
        ]
        visit_line.save()
        add_on.paid = Decimal("10.00")
        add_on.adjustments = [{"group": "CO", "reason": "45", "amount": "6.50"}]
        add_on.save()

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Paid by insurance $100.00" in text
        assert "Adjusted by insurance (not owed by the patient) -$26.50" in text
        assert "Balance $10.00" in text

    def test_the_signature_names_the_signer_and_the_time_in_the_practices_zone(self, client, world):
        encounter = superbill_of(world, signed_at=datetime(2026, 3, 2, 15, 30, tzinfo=UTC))

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Signed electronically by Dr Alpha on 03/02/2026 at 10:30 AM EST." in text

    def test_without_a_billing_profile_the_practice_name_still_heads_it(self, client, world):
        encounter = superbill_of(world)

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert text.startswith("Alpha Health ")
        assert "No insurance card on file" in text

    def test_a_non_ascii_name_is_kept_letter_for_letter(self, client, world):
        world.patient.legal_name = "José Núñez"
        world.patient.save(update_fields=["legal_name"])
        card(world.patient)
        encounter = superbill_of(world)

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Name José Núñez" in text
        assert "Subscriber José Núñez" in text


@pytest.mark.django_db
class TestInsuranceOnTheDateOfService:
    def test_the_card_given_before_the_visit_is_used_even_if_replaced_since(self, client, world):
        card(
            world.patient,
            payer="Old Plan",
            member_id="OLD1",
            created_at=datetime(2026, 2, 1, tzinfo=UTC),
            current=False,
        )
        card(world.patient, payer="New Plan", member_id="NEW1")  # given today, after the visit
        encounter = superbill_of(world)

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Payer Old Plan" in text and "Member ID OLD1" in text
        assert "New Plan" not in text

    def test_a_card_given_late_in_the_evening_of_the_visit_counts(self, client, world):
        # 23:30 in Boston on the date of service is already the next day in UTC.
        evening = datetime(2026, 3, 2, 23, 30, tzinfo=ZoneInfo("America/New_York"))
        card(world.patient, payer="Evening Plan", created_at=evening, current=False)
        card(world.patient, payer="New Plan")
        encounter = superbill_of(world)

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Payer Evening Plan" in text

    def test_the_current_card_is_used_when_none_was_given_by_the_visit(self, client, world):
        card(world.patient, payer="Later Plan")
        encounter = superbill_of(world)

        text = pdf_text(get_superbill(client, world.patient.user, encounter).content)

        assert "Payer Later Plan" in text


def bill(**changes) -> Superbill:
    fields = {
        "claim_number": "E1",
        "practice_name": "Alpha Health PC",
        "practice_address": ("1 Main St", "Boston, MA 02110-1234"),
        "practice_phone": "(617) 555-0100",
        "group_npi": "1234567893",
        "ein": "12-3456789",
        "taxonomy": "207Q00000X",
        "provider_name": "Dr Alpha",
        "provider_npi": "1245319599",
        "provider_specialty": "",
        "patient_name": "Pat Alpha",
        "patient_birth_date": date(1980, 1, 2),
        "patient_sex": "",
        "patient_address": (),
        "insurance": Insurance("Acme Health", "M1", "", "Pat Alpha", "Self"),
        "date_of_service": date(2026, 3, 2),
        "period": None,
        "modality": "Video visit",
        "patient_state": "MA",
        "diagnoses": (Diagnosis(1, "I10", "Essential (primary) hypertension"),),
        "lines": (Line("99213", ("95",), "10", 1, Decimal("120.00"), (1,)),),
        "paid": None,
        "signed_by": "Dr Alpha",
        "signed_at": datetime(2026, 3, 2, 15, 30, tzinfo=UTC),
        "issued_on": date(2026, 3, 3),
    }
    return Superbill(**{**fields, **changes})


class TestLayout:
    def test_many_lines_run_onto_more_pages_with_their_headings_and_the_total_last(self):
        lines = tuple(Line(f"9{n:04d}", (), "10", 1, Decimal("10.00"), (1,)) for n in range(1, 91))

        reader = PdfReader(BytesIO(superbill_pdf(bill(lines=lines))))

        pages = [" ".join(page.extract_text().split()) for page in reader.pages]
        assert len(pages) >= 3
        for number, page in enumerate(pages, start=1):
            assert f"Page {number} of {len(pages)}" in page
            assert "CPT/HCPCS" in page if number > 1 else True
        every_code = " ".join(pages)
        assert all(f"9{n:04d}" in every_code for n in range(1, 91))
        assert "Total charges $900.00" in pages[-1]
        assert "Signed electronically by Dr Alpha" in pages[-1]

    def test_a_long_name_wraps_rather_than_being_cut(self):
        name = "Maria de los Ángeles Fernández-Castellanos y Villalobos de la Torre Hernández"
        provider = "Dr. Alexandra Konstantinopoulou-Vanderbilt, MD, MPH, FACP, Telehealth Lead"

        text = " ".join(
            PdfReader(BytesIO(superbill_pdf(bill(patient_name=name, provider_name=provider))))
            .pages[0]
            .extract_text()
            .split()
        )

        assert all(word in text for word in name.split())
        assert all(word in text for word in provider.split())

    def test_letters_beyond_western_europe_are_extractable(self):
        name = "Łukasz Wróbel-Ødegård"

        text = " ".join(superbill_pdf(bill(patient_name=name)).decode("latin-1").split())
        extracted = " ".join(
            PdfReader(BytesIO(superbill_pdf(bill(patient_name=name))))
            .pages[0]
            .extract_text()
            .split()
        )

        assert "Helvetica" not in text  # an embedded font, not the one without these letters
        assert f"Name {name}" in extracted

    def test_a_monitoring_period_shows_its_first_and_last_day(self):
        period = (date(2026, 3, 1), date(2026, 3, 30))

        text = " ".join(
            PdfReader(BytesIO(superbill_pdf(bill(period=period, modality=""))))
            .pages[0]
            .extract_text()
            .split()
        )

        assert "Service period 03/01/2026 to 03/30/2026" in text
        assert "Visit type" not in text

    def test_the_file_is_text_not_a_picture(self):
        content = superbill_pdf(bill())

        assert not re.search(rb"/Subtype\s*/Image", content)


@pytest.mark.django_db
class TestAccess:
    def test_another_patients_superbill_is_404(self, client, world):
        encounter = superbill_of(world, patient=world.other_patient)

        assert get_superbill(client, world.patient.user, encounter).status_code == 404

    def test_an_unsigned_encounter_has_no_superbill_for_the_patient_or_staff(self, client, world):
        encounter = superbill_of(
            world, status=Encounter.Status.READY, signed_at=None, signed_by=None
        )

        assert get_superbill(client, world.patient.user, encounter).status_code == 404
        assert get_superbill(client, world.admin, encounter).status_code == 404

    @pytest.mark.parametrize("role", ["clinician", "front_desk", "admin"])
    def test_the_rendering_clinician_front_desk_and_admins_get_it(self, client, world, role):
        encounter = superbill_of(world)

        assert get_superbill(client, getattr(world, role), encounter).status_code == 200

    def test_a_clinician_who_did_not_render_it_gets_404(self, client, world):
        encounter = superbill_of(world)

        assert get_superbill(client, world.other_clinician, encounter).status_code == 404

    def test_staff_of_another_practice_get_404(self, client, world):
        encounter = superbill_of(world)

        assert get_superbill(client, world.outside_clinician, encounter).status_code == 404

    def test_each_download_is_audited_with_the_encounter_and_the_patient(self, client, world):
        encounter = superbill_of(world)

        get_superbill(client, world.front_desk, encounter)

        event = AuditEvent.objects.get(object_type="billing.Encounter", object_id=encounter.pk)
        assert event.action == "view"
        assert event.actor == world.front_desk
        assert event.patient_id == world.patient.pk

    def test_a_refused_download_is_not_audited_as_a_view(self, client, world):
        encounter = superbill_of(world, patient=world.other_patient)

        get_superbill(client, world.patient.user, encounter)

        assert not AuditEvent.objects.filter(object_type="billing.Encounter").exists()


@pytest.mark.django_db
class TestMySuperbills:
    def test_lists_own_signed_superbills_by_date_with_provider_total_and_link(self, client, world):
        older = superbill_of(world, date_of_service=date(2026, 1, 5))
        newer = superbill_of(world, date_of_service=date(2026, 3, 2))
        superbill_of(world, status=Encounter.Status.DRAFT, signed_at=None, signed_by=None)
        superbill_of(world, patient=world.other_patient)
        sign_in(client, world.patient.user)

        response = client.get(reverse("billing:my-superbills"))

        assert response.status_code == 200
        page = response.content.decode()
        links = re.findall(r'href="/billing/encounters/(\d+)/superbill.pdf"', page)
        assert links == [str(newer.pk), str(older.pk)]
        assert page.count("Dr Alpha") == 2
        assert page.count("$136.50") == 2
        assert "superbill for 2 Mar 2026" in page  # the link's accessible name
        assert "no-store" in response["Cache-Control"]

    def test_the_empty_state_says_what_a_superbill_is(self, client, world):
        sign_in(client, world.patient.user)

        page = client.get(reverse("billing:my-superbills")).content.decode()

        assert "You have no superbills yet" in page
        assert "send it to your insurer" in page

    @pytest.mark.usefixtures("without_session_cache")
    def test_the_list_costs_the_same_queries_for_one_or_many(self, client, world):
        superbill_of(world)
        sign_in(client, world.patient.user)
        client.get(reverse("billing:my-superbills"))  # warm the session and caches
        with CaptureQueriesContext(connection) as one:
            client.get(reverse("billing:my-superbills"))
        superbill_of(world)
        superbill_of(world)
        with CaptureQueriesContext(connection) as three:
            client.get(reverse("billing:my-superbills"))

        assert len(three) == len(one)

    def test_the_patients_home_links_to_it(self, client, world):
        sign_in(client, world.patient.user)

        page = client.get(reverse("home")).content.decode()

        assert f'href="{reverse("billing:my-superbills")}"' in page
