"""Clinician review of an encounter: diagnoses from the ICD-10-CM code set, line edits with
charges from the fee schedule, time or decision making, signing by the rendering clinician
only, amendments after signing, the worklist and the review page."""

import re
import threading
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import diagnoses, review, services
from billing.coding import Basis
from billing.models import ClaimLine, Encounter, EncounterAmendment, FeeScheduleEntry
from billing.rules.records import Mdm
from telehealth.audit.models import AuditEvent
from tests.billing.test_encounters import billing_set_up, ended_visit, insurance_card
from tests.conftest import sign_in

UNSIGNED_NOTE = "The note is not signed yet."


def pulled_encounter(world, video_type, *, minutes=25):
    """A new patient's 25-minute video visit from home, pulled: one 99202-95 line, no
    diagnosis yet, and the note still unsigned (a review note)."""
    billing_set_up(world)
    for code, charge in (("99204", "230.00"), ("99205", "300.00"), ("99213", "120.00")):
        FeeScheduleEntry.objects.update_or_create(
            practice=world.practice,
            code=code,
            effective_from=date(2025, 1, 1),
            defaults={"charge": Decimal(charge)},
        )
    insurance_card(world.patient)
    ended_visit(world, video_type, minutes=minutes, at_home=True)
    services.pull_completed_visits()
    return Encounter.objects.get()


@pytest.fixture
def encounter(world, video_type):
    return pulled_encounter(world, video_type)


def fresh(encounter):
    return Encounter.objects.get(pk=encounter.pk)


def line_input(line, **changes):
    values = {
        "code": line.code,
        "modifiers": tuple(line.modifiers),
        "place_of_service": line.place_of_service,
        "units": line.units,
        "diagnosis_pointers": tuple(line.diagnosis_pointers),
    }
    return review.LineInput(**(values | changes))


def signed(encounter, world, codes=("E11.9",)):
    review.diagnoses_set(encounter=encounter, by=world.clinician, codes=list(codes))
    return review.sign(encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE])


def audit_details(encounter):
    return list(
        AuditEvent.objects.filter(
            object_type="billing.Encounter", object_id=str(encounter.pk), action="update"
        ).values_list("detail", flat=True)
    )


@pytest.mark.django_db
class TestDiagnoses:
    def test_codes_become_ordered_diagnoses_described_by_the_code_set(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["e11.9", " I10 "])

        rows = list(encounter.diagnoses.values_list("position", "code", "description"))
        assert rows == [
            (1, "E11.9", "Type 2 diabetes mellitus without complications"),
            (2, "I10", "Essential (primary) hypertension"),
        ]
        [line] = fresh(encounter).lines.all()
        assert line.diagnosis_pointers == [1, 2]
        encounter = fresh(encounter)
        assert encounter.problems == []
        assert encounter.status == Encounter.Status.NEEDS_REVIEW
        assert audit_details(encounter) == ["diagnoses changed: needs_review"]

    def test_pointers_default_to_the_first_four(self, world, encounter):
        codes = ["E11.9", "I10", "E78.5", "J45.909", "K21.9"]
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=codes)
        assert fresh(encounter).lines.get().diagnosis_pointers == [1, 2, 3, 4]

    def test_an_unknown_code_is_refused_and_nothing_is_written(self, world, encounter):
        with pytest.raises(review.ReviewError, match="'E11.999' is not an ICD-10-CM code"):
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.999"])
        assert not encounter.diagnoses.exists()
        assert audit_details(encounter) == []

    def test_a_category_is_refused_naming_codes_beneath_it(self, world, encounter):
        with pytest.raises(review.ReviewError) as refused:
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11"])
        assert "E11 (Type 2 diabetes mellitus) is a category" in refused.value.message
        assert "E11.0" in refused.value.message
        assert not encounter.diagnoses.exists()

    def test_thirteen_codes_are_one_too_many(self, world, encounter):
        codes = [dx.code for dx in diagnoses.search("E11") if dx.billable][:13]
        assert len(codes) == 13
        with pytest.raises(review.ReviewError, match="at most 12 diagnoses; 13 were given"):
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=codes)
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=codes[:12])
        assert encounter.diagnoses.count() == 12

    def test_the_same_code_twice_is_refused(self, world, encounter):
        with pytest.raises(review.ReviewError, match="E11.9 is listed twice"):
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9", "e119"])

    def test_removing_a_diagnosis_drops_pointers_at_it(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9", "I10"])
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        assert fresh(encounter).lines.get().diagnosis_pointers == [1]

    def test_the_front_desk_and_another_clinician_cannot_change_them(self, world, encounter):
        for user in (world.front_desk, world.other_clinician, world.outside_clinician):
            with pytest.raises(PermissionDenied):
                review.diagnoses_set(encounter=encounter, by=user, codes=["E11.9"])

    def test_a_practice_admin_may_code(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.admin, codes=["E11.9"])
        assert encounter.diagnoses.count() == 1


@pytest.mark.django_db
class TestLines:
    def test_a_line_left_as_suggested_keeps_its_reason(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        line = fresh(encounter).lines.get()
        review.lines_set(encounter=encounter, by=world.clinician, lines=[line_input(line)])
        after = fresh(encounter).lines.get()
        assert (after.reason, after.suggested) == (line.reason, True)
        assert audit_details(encounter) == ["diagnoses changed: needs_review"]

    @pytest.mark.parametrize(
        "change",
        [
            {"code": "9\u0669213"},  # an Arabic-Indic nine
            {"code": "99213\n"},
            {"place_of_service": "\u0661\u0660"},
            {"place_of_service": "10\n"},
            {"modifiers": ("9\u0665",)},
        ],
    )
    def test_codes_are_ascii_with_nothing_after_them(self, world, encounter, change):
        """What X12 cannot carry is refused at review, not found at export."""
        line = fresh(encounter).lines.get()
        with pytest.raises(review.ReviewError):
            review.lines_set(
                encounter=encounter, by=world.clinician, lines=[line_input(line, **change)]
            )
        assert fresh(encounter).lines.get().code == line.code

    def test_a_claim_carries_at_most_fifty_lines(self, world, encounter):
        line = line_input(fresh(encounter).lines.get())
        with pytest.raises(review.ReviewError, match="at most 50 lines"):
            review.lines_set(encounter=encounter, by=world.clinician, lines=[line] * 51)
        assert fresh(encounter).lines.count() == 1

    def test_an_edited_line_is_charged_from_the_fee_schedule_and_says_who(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        line = fresh(encounter).lines.get()
        review.lines_set(
            encounter=encounter,
            by=world.clinician,
            lines=[line_input(line, code="99203", units=2, modifiers=("95", "GT"))],
        )
        after = fresh(encounter).lines.get()
        assert (after.code, after.units, after.charge) == ("99203", 2, Decimal("320.00"))
        assert after.modifiers == ["95", "GT"]
        assert (after.suggested, after.reason) == (False, "Edited by Dr Alpha")

    def test_a_line_is_added_and_removed(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        line = fresh(encounter).lines.get()
        extra = review.LineInput("99213", ("95",), "10", 1, (1,))
        review.lines_set(encounter=encounter, by=world.clinician, lines=[line_input(line), extra])
        lines = list(fresh(encounter).lines.values_list("position", "code", "charge", "reason"))
        assert lines[1] == (2, "99213", Decimal("120.00"), "Added by Dr Alpha")
        review.lines_set(encounter=encounter, by=world.admin, lines=[extra])
        lines = list(fresh(encounter).lines.values_list("position", "code", "reason"))
        assert lines == [(1, "99213", "Added by Dr Alpha")]  # kept, only moved up

    def test_a_code_without_a_fee_keeps_the_encounter_in_draft(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        review.lines_set(
            encounter=encounter,
            by=world.clinician,
            lines=[review.LineInput("99215", (), "10", 1, (1,))],
        )
        encounter = fresh(encounter)
        assert encounter.status == Encounter.Status.DRAFT
        assert encounter.problems == ["No fee for 99215 in the fee schedule."]
        assert encounter.lines.get().charge == 0

    def test_no_lines_at_all_is_a_problem(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        review.lines_set(encounter=encounter, by=world.clinician, lines=[])
        assert fresh(encounter).problems == [
            "Nothing to bill: no line is supported by the documentation."
        ]

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"diagnosis_pointers": (1, 2)}, "points at diagnosis 2, which does not exist"),
            ({"code": "9921"}, "not a five-character CPT or HCPCS code"),
            ({"modifiers": ("95", "GT", "25", "59", "76")}, "at most four modifiers"),
            ({"modifiers": ("9",)}, "9 is not a two-character modifier"),
            ({"place_of_service": "1"}, "place of service is two digits"),
            ({"units": 0}, "units from 1 to 99"),
            ({"diagnosis_pointers": (1, 1)}, "a diagnosis pointer is repeated"),
        ],
    )
    def test_bad_lines_are_refused_and_nothing_is_written(self, world, encounter, changes, message):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        line = fresh(encounter).lines.get()
        with pytest.raises(review.ReviewError, match=message):
            review.lines_set(
                encounter=encounter, by=world.clinician, lines=[line_input(line, **changes)]
            )
        assert fresh(encounter).lines.get().code == line.code


@pytest.mark.django_db
class TestBasis:
    def test_decision_making_suggests_the_level_the_clinician_picks(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        review.basis_set(encounter=encounter, by=world.clinician, basis=Basis.MDM, mdm=Mdm.HIGH)

        encounter = fresh(encounter)
        line = encounter.lines.get()
        assert (line.code, line.modifiers, line.place_of_service) == ("99205", ["95"], "10")
        assert line.reason.startswith("High decision making, chosen by the clinician")
        assert line.charge == Decimal("300.00") and line.diagnosis_pointers == [1]
        assert (encounter.coding_basis, encounter.mdm_level) == ("mdm", "high")
        assert encounter.review_notes == [UNSIGNED_NOTE]

        review.basis_set(encounter=encounter, by=world.clinician, basis=Basis.TIME)
        encounter = fresh(encounter)
        assert encounter.lines.get().code == "99202"
        assert (encounter.coding_basis, encounter.mdm_level) == ("time", "")

    def test_decision_making_needs_a_level(self, world, encounter):
        with pytest.raises(review.ReviewError, match="Pick the level"):
            review.basis_set(encounter=encounter, by=world.clinician, basis=Basis.MDM)
        assert fresh(encounter).lines.get().code == "99202"


@pytest.mark.django_db
class TestSigning:
    def test_the_rendering_clinician_signs_after_acknowledging_the_review_notes(
        self, world, encounter
    ):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        with pytest.raises(review.ReviewError, match="Confirm you have reviewed"):
            review.sign(encounter=encounter, by=world.clinician, acknowledged=[])
        assert fresh(encounter).status == Encounter.Status.NEEDS_REVIEW

        review.sign(encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE])
        encounter = fresh(encounter)
        assert encounter.status == Encounter.Status.SIGNED
        assert encounter.signed_by == world.clinician and encounter.signed_at is not None
        assert "encounter signed, 1 review notes acknowledged" in audit_details(encounter)

    @pytest.mark.parametrize("who", ["other_clinician", "admin", "front_desk"])
    def test_no_one_else_signs(self, world, encounter, who):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        with pytest.raises(PermissionDenied):
            review.sign(encounter=encounter, by=getattr(world, who), acknowledged=[UNSIGNED_NOTE])
        assert fresh(encounter).signed_at is None

    def test_an_encounter_with_problems_is_not_signed(self, world, encounter):
        with pytest.raises(review.ReviewError, match="No diagnosis yet"):
            review.sign(encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE])
        assert fresh(encounter).status == Encounter.Status.DRAFT

    def test_a_problem_that_appeared_since_is_found_at_signing(self, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        FeeScheduleEntry.objects.filter(code="99202").update(charge=0)
        with pytest.raises(review.ReviewError, match="The charge for 99202 is zero"):
            review.sign(encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE])

    def test_signing_twice_is_refused(self, world, encounter):
        signed(encounter, world)
        with pytest.raises(review.ReviewError, match="already signed"):
            review.sign(encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE])


@pytest.mark.django_db
class TestAfterSigning:
    def test_an_edit_needs_a_reason(self, world, encounter):
        signed(encounter, world)
        with pytest.raises(review.ReviewError, match="say why"):
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.65"])
        assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.9"]
        assert not EncounterAmendment.objects.exists()

    def test_suggesting_again_to_the_same_lines_leaves_a_signed_encounter_untouched(
        self, world, encounter
    ):
        """Nothing changed, so nothing is kept as an amendment; then nothing may change either:
        not the lines' charges (a fee schedule edited since) nor their reasons."""
        signed(encounter, world)
        FeeScheduleEntry.objects.filter(practice=world.practice, code="99202").update(
            charge=Decimal("1.00")
        )
        before = list(fresh(encounter).lines.values_list("code", "charge", "reason", "suggested"))

        review.basis_set(
            encounter=encounter, by=world.clinician, basis=Basis.TIME, reason="Just checking"
        )

        after = list(fresh(encounter).lines.values_list("code", "charge", "reason", "suggested"))
        assert after == before
        assert not EncounterAmendment.objects.exists()

    def test_an_edit_with_a_reason_is_kept_as_an_amendment_and_audited(self, world, encounter):
        signed(encounter, world, codes=["E11.9", "I10"])
        review.diagnoses_set(
            encounter=encounter,
            by=world.admin,
            codes=["E11.9", "E11.65"],
            reason="Hyperglycaemia documented in the plan",
        )
        amendment = EncounterAmendment.objects.get()
        assert amendment.changes == ["Diagnosis 2: I10 → E11.65"]
        assert amendment.reason == "Hyperglycaemia documented in the plan"
        assert amendment.changed_by == world.admin
        assert fresh(encounter).status == Encounter.Status.SIGNED
        assert f"diagnoses changed after signing (amendment {amendment.pk})" in audit_details(
            encounter
        )

    def test_a_line_edit_after_signing_says_what_changed(self, world, encounter):
        signed(encounter, world)
        line = fresh(encounter).lines.get()
        review.lines_set(
            encounter=encounter,
            by=world.clinician,
            lines=[line_input(line, code="99203")],
            reason="Time was 35 minutes",
        )
        assert EncounterAmendment.objects.get().changes == ["Line 1 code: 99202 → 99203"]

    def test_an_edit_that_would_leave_a_problem_is_refused(self, world, encounter):
        signed(encounter, world)
        with pytest.raises(review.ReviewError, match="must stay complete"):
            review.diagnoses_set(encounter=encounter, by=world.clinician, codes=[], reason="x")
        assert encounter.diagnoses.count() == 1
        assert not EncounterAmendment.objects.exists()

    @pytest.mark.parametrize("status", ["exported", "paid", "denied"])
    def test_a_claim_that_went_out_is_not_edited(self, world, encounter, status):
        signed(encounter, world)
        Encounter.objects.filter(pk=encounter.pk).update(status=status)
        with pytest.raises(review.ReviewError, match="replacement claim"):
            review.diagnoses_set(
                encounter=encounter, by=world.clinician, codes=["E11.65"], reason="late"
            )
        assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.9"]


# --- pages ---------------------------------------------------------------------------------


def page(client, encounter, **query):
    return client.get(reverse("billing:encounter", args=[encounter.pk]), query)


def post(client, encounter, what, data):
    return client.post(reverse(f"billing:encounter-{what}", args=[encounter.pk]), data)


@pytest.mark.django_db
class TestReviewPage:
    def test_the_clinician_sees_facts_reasons_editors_and_the_sign_form(
        self, client, world, encounter
    ):
        sign_in(client, world.clinician)
        html = page(client, encounter).content.decode()
        assert "Pat Alpha" in html and "99202" in html
        assert "No diagnosis yet: add at least one ICD-10-CM code." in html
        assert encounter.lines.get().reason in html
        for label in ("Diagnosis 1", "Save diagnoses", "Save lines", "Suggest the lines again"):
            assert label in html
        assert "You can sign once the problems listed are fixed." in html
        assert reverse("visits:record", args=[encounter.visit_id]) in html

    def test_the_front_desk_reads_it_without_forms_or_the_note(self, client, world, encounter):
        sign_in(client, world.front_desk)
        html = page(client, encounter).content.decode()
        assert "99202" in html
        for hidden in ("Save diagnoses", "Save lines", "Sign encounter", "/note"):
            assert hidden not in html
        assert reverse("visits:record", args=[encounter.visit_id]) not in html

    def test_the_page_read_is_audited(self, client, world, encounter):
        sign_in(client, world.front_desk)
        page(client, encounter)
        assert AuditEvent.objects.filter(
            action="view", object_type="billing.Encounter", object_id=str(encounter.pk)
        ).exists()

    def test_diagnoses_are_added_from_the_search_and_saved(self, client, world, encounter):
        sign_in(client, world.clinician)
        html = page(client, encounter, q="E11.6").content.decode()
        assert 'value="E11.65"' in html and 'form="diagnoses-form"' in html

        response = post(client, encounter, "diagnoses", {"code": ["", ""], "add": "E11.65"})
        assert response.status_code == 302
        assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.65"]
        response = post(client, encounter, "diagnoses", {"code": ["E11.65", "I10"], "remove": "1"})
        assert list(encounter.diagnoses.values_list("code", flat=True)) == ["I10"]

    def test_a_refused_diagnosis_answers_400_with_the_reason(self, client, world, encounter):
        sign_in(client, world.clinician)
        response = post(client, encounter, "diagnoses", {"code": ["E11"]})
        assert response.status_code == 400
        assert "is a category" in response.content.decode()
        assert not encounter.diagnoses.exists()

    def test_the_search_fragment_lists_billable_codes_to_add(self, client, world):
        sign_in(client, world.admin)
        response = client.get(reverse("billing:diagnosis-search"), {"q": "essential hypertension"})
        html = response.content.decode()
        assert response.status_code == 200 and "<html" not in html
        assert "I10" in html and 'aria-label="Add I10"' in html

    def test_lines_are_edited_through_the_form(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        data = {
            "line": ["1", "new"],
            "1-code": "99203",
            "1-modifiers": "95",
            "1-place_of_service": "10",
            "1-units": "1",
            "1-pointers": "1",
            "new-code": "99213",
            "new-modifiers": "95 25",
            "new-place_of_service": "10",
            "new-units": "1",
            "new-pointers": "1",
        }
        assert post(client, encounter, "lines", data).status_code == 302
        lines = list(fresh(encounter).lines.values_list("code", "modifiers", "charge"))
        assert lines == [
            ("99203", ["95"], Decimal("160.00")),
            ("99213", ["95", "25"], Decimal("120.00")),
        ]
        data = {
            "line": ["1", "2"],
            "1-remove": "1",
            **{
                f"2-{k}": v
                for k, v in {
                    "code": "99213",
                    "modifiers": "95",
                    "place_of_service": "10",
                    "units": "x",
                }.items()
            },
        }
        response = post(client, encounter, "lines", data)
        assert (
            response.status_code == 400 and "Units are a whole number" in response.content.decode()
        )
        assert fresh(encounter).lines.count() == 2

    def test_the_basis_form_resuggests(self, client, world, encounter):
        sign_in(client, world.clinician)
        assert (
            post(client, encounter, "basis", {"basis": "mdm", "mdm": "moderate"}).status_code == 302
        )
        assert fresh(encounter).lines.get().code == "99204"
        assert post(client, encounter, "basis", {"basis": "feel"}).status_code == 400

    def test_signing_through_the_page(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        html = page(client, encounter).content.decode()
        assert f"I have reviewed: {UNSIGNED_NOTE}" in html
        assert post(client, encounter, "sign", {}).status_code == 400
        assert fresh(encounter).signed_at is None
        data = {"acknowledged": UNSIGNED_NOTE, "seen": review.version(fresh(encounter))}
        response = post(client, encounter, "sign", data)
        assert response.status_code == 302
        assert fresh(encounter).status == Encounter.Status.SIGNED

    def test_a_signature_covers_only_what_the_clinician_saw(self, client, world, encounter):
        """An admin changes the lines while the clinician has the page open: the signature
        posted from that page is refused, and the clinician signs once they saw the change."""
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        html = page(client, encounter).content.decode()
        seen = re.search(r'name="seen" value="([^"]+)"', html)
        assert seen is not None, "the sign form names the version the clinician saw"
        line = fresh(encounter).lines.get()
        review.lines_set(
            encounter=encounter, by=world.admin, lines=[line_input(line, code="99205")]
        )
        data = {"acknowledged": UNSIGNED_NOTE, "seen": seen[1]}
        response = post(client, encounter, "sign", data)
        assert response.status_code == 400
        assert "changed since you opened it" in response.content.decode()
        assert fresh(encounter).signed_at is None

        html = page(client, encounter).content.decode()
        seen = re.search(r'name="seen" value="([^"]+)"', html)
        assert seen is not None
        response = post(client, encounter, "sign", {"acknowledged": UNSIGNED_NOTE, "seen": seen[1]})
        assert response.status_code == 302
        assert fresh(encounter).status == Encounter.Status.SIGNED

    def test_an_admin_cannot_sign(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.admin)
        assert "Sign encounter" not in page(client, encounter).content.decode()
        assert post(client, encounter, "sign", {"acknowledged": UNSIGNED_NOTE}).status_code == 403

    def test_the_query_count_does_not_grow_with_lines_and_diagnoses(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        page(client, encounter)
        with CaptureQueriesContext(connection) as few:
            page(client, encounter)
        codes = ["E11.9", "I10", "E78.5", "K21.9"]
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=codes)
        extra = [review.LineInput("99213", ("95",), "10", 1, (n,)) for n in (1, 2, 3)]
        line = line_input(fresh(encounter).lines.get())
        review.lines_set(encounter=encounter, by=world.clinician, lines=[line, *extra])
        with CaptureQueriesContext(connection) as many:
            assert page(client, encounter).content.decode().count("Added by Dr Alpha") == 3
        assert len(many) == len(few)

    def test_the_amendment_history_is_shown(self, client, world, encounter):
        signed(encounter, world)
        review.diagnoses_set(
            encounter=encounter, by=world.clinician, codes=["E11.65"], reason="Plan says so"
        )
        sign_in(client, world.front_desk)
        html = page(client, encounter).content.decode()
        assert "Diagnosis 1: E11.9 → E11.65" in html and "Plan says so" in html


@pytest.mark.django_db
class TestMalformedPosts:
    """Values that str.isdigit() accepts but int() does not ("²") are refused with 400, not a
    server error, and nothing is written."""

    def test_superscript_units(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        line = fresh(encounter).lines.get()
        data = {
            "line": ["1"],
            "1-code": line.code,
            "1-modifiers": " ".join(line.modifiers),
            "1-place_of_service": line.place_of_service,
            "1-units": "²",
            "1-pointers": "1",
        }
        response = post(client, encounter, "lines", data)
        assert response.status_code == 400
        assert "Units are a whole number" in response.content.decode()
        assert fresh(encounter).lines.get().units == 1

    def test_superscript_diagnosis_to_remove(self, client, world, encounter):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        sign_in(client, world.clinician)
        response = post(client, encounter, "diagnoses", {"code": ["E11.9"], "remove": "¹"})
        assert response.status_code in (302, 400)
        assert list(encounter.diagnoses.values_list("code", flat=True)) == ["E11.9"]

    def test_superscript_provider_filter(self, client, world, encounter):
        sign_in(client, world.admin)
        response = client.get(reverse("billing:worklist"), {"provider": "²"})
        assert response.status_code == 400
        assert "Choose a provider from the list." in response.content.decode()


@pytest.mark.django_db
class TestWorklist:
    def make(self, encounter, n, **fields):
        """Copies of the encounter with other sources and statuses."""
        for i in range(n):
            copy = Encounter.objects.get(pk=encounter.pk)
            copy.pk = None
            copy.source = f"copy:{i}:{fields}"
            copy.problems = []
            for name, value in fields.items():
                setattr(copy, name, value)
            if copy.status in ("signed", "exported", "paid", "denied"):
                copy.signed_by, copy.signed_at = (
                    encounter.patient.practice.providers.first().user,
                    timezone.now(),
                )
            copy.save()
            ClaimLine.objects.create(
                encounter=copy, position=1, code="99213", place_of_service="10", charge=120
            )

    def test_counts_by_status_rows_and_filters(self, client, world, encounter):
        self.make(encounter, 2, status="signed")
        self.make(encounter, 1, status="paid", date_of_service=date(2025, 2, 3))
        sign_in(client, world.front_desk)
        response = client.get(reverse("billing:worklist"))
        html = response.content.decode()
        assert response.status_code == 200
        assert 'Draft <span class="count">1</span>' in html
        assert 'Signed <span class="count">2</span>' in html
        assert 'Paid <span class="count">1</span>' in html
        assert "No diagnosis yet" in html and "$110.00" in html

        html = client.get(reverse("billing:worklist"), {"status": "signed"}).content.decode()
        assert html.count("<tr") == 3  # heading and two rows
        html = client.get(reverse("billing:worklist"), {"month": "2025-02"}).content.decode()
        assert html.count("<tr") == 2
        response = client.get(reverse("billing:worklist"), {"month": "Feb"})
        assert response.status_code == 400 and "YYYY-MM" in response.content.decode()

    def test_a_clinician_sees_only_their_own(self, client, world, encounter):
        sign_in(client, world.other_clinician)
        html = client.get(reverse("billing:worklist")).content.decode()
        assert "Pat Alpha" not in html
        sign_in(client, world.clinician)
        assert "Pat Alpha" in client.get(reverse("billing:worklist")).content.decode()

    def test_the_query_count_does_not_grow_with_rows(self, client, world, encounter):
        sign_in(client, world.admin)
        # From two rows: a page about one record writes its audit event in one statement fewer.
        self.make(encounter, 1, status="signed", problems=[])  # another source than below
        client.get(reverse("billing:worklist"))
        with CaptureQueriesContext(connection) as few:
            client.get(reverse("billing:worklist"))
        self.make(encounter, 9, status="signed")
        with CaptureQueriesContext(connection) as many:
            response = client.get(reverse("billing:worklist"))
        assert response.content.decode().count("<tr") == 12
        assert len(many) == len(few)

    def test_staff_reach_the_worklist_from_the_menu(self, client, world):
        for user in (world.front_desk, world.admin, world.clinician):
            sign_in(client, user)
            assert reverse("billing:worklist") in client.get(reverse("home")).content.decode()
        sign_in(client, world.patient.user)
        assert reverse("billing:worklist") not in client.get(reverse("home")).content.decode()


# --- a signature and an edit at once (PostgreSQL) ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_signature_and_an_edit_never_interleave(require_postgres, world, video_type):
    """The edit removes the only diagnosis (a problem); the signature checks for problems.
    Without the row lock the signature could check, the edit commit, and a signed encounter
    be left with no diagnosis. Whatever the order, it never is."""
    encounter = pulled_encounter(world, video_type)
    for _ in range(8):
        review.diagnoses_set(encounter=encounter, by=world.clinician, codes=["E11.9"])
        outcomes = race(
            sign=lambda: review.sign(
                encounter=encounter, by=world.clinician, acknowledged=[UNSIGNED_NOTE]
            ),
            edit=lambda: review.diagnoses_set(encounter=encounter, by=world.clinician, codes=[]),
        )
        current = fresh(encounter)
        if current.status == Encounter.Status.SIGNED:
            assert current.diagnoses.count() == 1, outcomes
            assert "say why" in outcomes["edit"]
            Encounter.objects.filter(pk=encounter.pk).update(
                status=Encounter.Status.DRAFT, signed_at=None, signed_by=None
            )
        else:
            assert outcomes["edit"] == "done" and "No diagnosis yet" in outcomes["sign"]
            assert not current.diagnoses.exists()


def race(**actions) -> dict[str, str]:
    """Run the actions at once, each in its own thread and connection: what each answered."""
    barrier = threading.Barrier(len(actions))
    outcomes: dict[str, str] = {}

    def run(name, action):
        try:
            barrier.wait()
            action()
            outcomes[name] = "done"
        except review.ReviewError as error:
            outcomes[name] = error.message
        except Exception as error:  # the assertions show it
            outcomes[name] = f"error: {error!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in actions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
