"""Diagnoses come from the ICD-10-CM code set (simple-icd-10-cm), by code and by words."""

import pytest

from billing import diagnoses
from billing.diagnoses import DiagnosisRefused


@pytest.mark.parametrize("written", ["E11.9", "e11.9", "E119", " E11.9 "])
def test_a_code_is_found_however_it_is_written(written):
    found = diagnoses.lookup(written)
    assert found is not None
    assert (found.code, found.claim_code, found.billable) == ("E11.9", "E119", True)
    assert found.description == "Type 2 diabetes mellitus without complications"


@pytest.mark.parametrize("written", ["E11.99X", "Q99.99", "A00-A09", "1", "", "11.9", "E11..9"])
def test_what_is_not_a_code_is_not_found(written):
    assert diagnoses.lookup(written) is None


def test_a_claim_takes_billable_codes_only_and_names_what_to_pick_instead():
    assert diagnoses.for_claim("s52521a").code == "S52.521A"  # a seventh character
    with pytest.raises(DiagnosisRefused, match=r"E11 \(Type 2 diabetes mellitus\) is a category"):
        diagnoses.for_claim("E11")
    with pytest.raises(DiagnosisRefused, match="such as E11.0"):
        diagnoses.for_claim("E11")
    with pytest.raises(DiagnosisRefused, match="'E11.99X' is not an ICD-10-CM code"):
        diagnoses.for_claim("E11.99X")


def test_search_by_code_puts_the_code_itself_first_then_what_is_beneath_it():
    codes = [d.code for d in diagnoses.search("e11.6")]
    assert codes[0] == "E11.6"
    assert all(code.startswith("E11.6") for code in codes)
    assert "E11.65" in codes
    assert [d.code for d in diagnoses.search("I10")] == ["I10"]


def test_search_by_words_needs_every_word_and_puts_billable_general_codes_first():
    found = diagnoses.search("type 2 diabetes kidney")
    assert found and all(
        all(w in d.description.casefold() for w in ("type 2", "diabetes", "kidney")) for d in found
    )
    assert found[0].billable
    hypertension = diagnoses.search("essential hypertension")
    assert hypertension[0].code == "I10"
    assert diagnoses.search("   ") == ()
    assert diagnoses.search("no such condition zzz") == ()


def test_search_is_bounded():
    assert len(diagnoses.search("fracture", limit=5)) == 5
    assert len(diagnoses.search("S")) == 20
