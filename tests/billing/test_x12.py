"""The X12 border: 837P batches we write must pass pyx12 with no errors, broken envelopes
must be caught by it, and 835s (ours and the pyx12 project's published sample) must read back
into what was paid, adjusted and denied, with the reasons in words."""

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from billing.x12 import (
    Address,
    Adjustment,
    BillingProvider,
    Claim,
    ClaimBatch,
    ClaimPayment,
    LinePayment,
    Patient,
    Payee,
    Payer,
    Receiver,
    RenderingProvider,
    ServiceLine,
    Submitter,
    Subscriber,
    X12InputError,
    X12ValidationError,
    carc_description,
    claim_batch_837p,
    parse_835,
    parse_835_payments,
    rarc_description,
    remittance_835,
    validate,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "x12"
NOW = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC)
VISIT_DAY = dt.date(2026, 11, 20)

CLINIC = BillingProvider(
    name="NORTHSIDE TELEHEALTH",
    npi="1234567893",
    ein="12-3456789",
    address=Address("100 CONGRESS AVE", "AUSTIN", "TX", "78701-0001"),
    taxonomy="261QM1300X",
)
SECOND_CLINIC = BillingProvider(
    name="HILL COUNTRY VIRTUAL CARE",
    npi="1003000126",
    ein="98-7654321",
    address=Address("5 MAIN ST", "KERRVILLE", "TX", "780280005"),
)
DOCTOR = RenderingProvider("RIVERA", "ANA", "1245319599", "207Q00000X")
JANE = Subscriber(
    payer_name="LONE STAR HEALTH PLAN",
    payer_id="LSHP1",
    member_id="W100200300",
    last_name="DOE",
    first_name="JANE",
    birth_date=dt.date(1980, 1, 2),
    sex="F",
    address=Address("12 ELM ST", "AUSTIN", "TX", "78702"),
    group_number="GRP77",
)
TIM = Patient("DOE", "TIM", dt.date(2016, 3, 4), "M", JANE.address, relationship="19")
VIDEO_VISIT = ServiceLine("99214", Decimal("165.00"), VISIT_DAY, (1,), modifiers=("95",))
SUBMITTER = Submitter("NORTHSIDE TELEHEALTH", "NTH001", "BILLING OFFICE", "(512) 555-0100")
RECEIVER = Receiver("AUSTIN CLEARINGHOUSE", "ACH01")
PAYER = Payer(
    "LONE STAR HEALTH PLAN",
    "1999999999",
    Address("PO BOX 9", "DALLAS", "TX", "75201"),
    "8005550199",
)


def claim(claim_id: str = "ENC-1", **changes: object) -> Claim:
    base = Claim(
        claim_id=claim_id,
        billing_provider=CLINIC,
        subscriber=JANE,
        diagnosis_codes=("E11.9", "I10"),
        lines=(VIDEO_VISIT,),
        place_of_service="10",
        rendering_provider=DOCTOR,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def batch_837p(*claims: Claim, control_number: int = 1201) -> str:
    return claim_batch_837p(
        ClaimBatch(SUBMITTER, RECEIVER, claims), control_number=control_number, now=NOW
    )


def assert_valid(text: str) -> None:
    errors = validate(text)
    assert errors == [], f"{len(errors)} pyx12 errors, first: {errors[0]}"


def segments(text: str, tag: str) -> list[list[str]]:
    return [s.split("*") for s in text.replace("\n", "").split("~") if s.split("*")[0] == tag]


# 837P --------------------------------------------------------------------------------


def test_claim_for_a_subscriber_who_is_the_patient_validates() -> None:
    text = batch_837p(claim())
    assert_valid(text)
    assert segments(text, "SBR")[0][2] == "18"
    assert segments(text, "PAT") == []
    assert segments(text, "CLM")[0][1:3] == ["ENC-1", "165.00"]
    assert segments(text, "CLM")[0][5] == "10:B:1"
    assert segments(text, "HI")[0][1:] == ["ABK:E119", "ABF:I10"]
    assert segments(text, "SV1")[0][1:4] == ["HC:99214:95", "165.00", "UN"]
    assert segments(text, "DTP")[0] == ["DTP", "472", "D8", "20261120"]


def test_claim_for_a_dependent_sits_under_a_patient_level() -> None:
    text = batch_837p(claim(patient=TIM))
    assert_valid(text)
    hl = segments(text, "HL")
    assert [level[3] for level in hl] == ["20", "22", "23"]
    assert hl[1][4] == "1" and hl[2][2] == hl[1][1]
    assert segments(text, "SBR")[0][2] == ""
    assert segments(text, "PAT")[0][1] == "19"
    assert segments(text, "NM1")[-2][1:5] == ["QC", "1", "DOE", "TIM"]


def test_four_modifiers_validate_and_a_fifth_is_refused() -> None:
    line = dataclasses.replace(VIDEO_VISIT, modifiers=("95", "25", "GT", "59"))
    text = batch_837p(claim(lines=(line,)))
    assert_valid(text)
    assert segments(text, "SV1")[0][1] == "HC:99214:95:25:GT:59"
    too_many = dataclasses.replace(VIDEO_VISIT, modifiers=("95", "25", "GT", "59", "XU"))
    with pytest.raises(X12InputError, match="5 modifiers; the most is 4"):
        batch_837p(claim(lines=(too_many,)))


TWELVE = (
    *("E11.9", "I10", "E78.5", "J45.909", "F41.1", "M54.50"),
    *("K21.9", "E66.9", "G47.33", "N18.3", "R51.9", "Z79.4"),
)


def test_twelve_diagnoses_validate_and_a_thirteenth_is_refused() -> None:
    line = dataclasses.replace(VIDEO_VISIT, diagnosis_pointers=(1, 2, 3, 4))
    text = batch_837p(claim(diagnosis_codes=TWELVE, lines=(line,)))
    assert_valid(text)
    hi = segments(text, "HI")[0][1:]
    assert len(hi) == 12 and hi[0] == "ABK:E119" and hi[11] == "ABF:Z794"
    assert segments(text, "SV1")[0][7] == "1:2:3:4"
    with pytest.raises(X12InputError, match="13 diagnoses; the most is 12"):
        batch_837p(claim(diagnosis_codes=(*TWELVE, "R05.9")))


def test_batch_with_several_claims_and_billing_providers_validates() -> None:
    monitoring = ServiceLine("99454", Decimal("48.00"), VISIT_DAY, (1,), place_of_service="11")
    own_rendering = RenderingProvider("HILL", "SAM", SECOND_CLINIC.npi)
    text = batch_837p(
        claim("ENC-1"),
        claim("ENC-2", billing_provider=SECOND_CLINIC, rendering_provider=own_rendering),
        claim("ENC-3", patient=TIM, lines=(VIDEO_VISIT, monitoring)),
    )
    assert_valid(text)
    providers = [level for level in segments(text, "HL") if level[3] == "20"]
    assert len(providers) == 2
    assert [c[1] for c in segments(text, "CLM")] == ["ENC-1", "ENC-3", "ENC-2"]
    # The rendering provider loop only where it differs from the billing provider.
    assert len([n for n in segments(text, "NM1") if n[1] == "82"]) == 2
    assert segments(text, "CLM")[1][2] == "213.00"
    assert [sv1[5] for sv1 in segments(text, "SV1")] == ["", "", "11", ""]


def test_envelope_counts_and_control_numbers_match() -> None:
    text = batch_837p(claim("ENC-1"), claim("ENC-2"), control_number=987654321)
    isa = text.splitlines()[0]
    assert len(isa) == 106
    assert isa.split("*")[13] == "000987654321"[-9:]
    assert segments(text, "IEA")[0][1:] == ["1", "987654321"]
    assert segments(text, "GS")[0][6] == segments(text, "GE")[0][2] == "987654321"
    assert segments(text, "ST")[0][2] == segments(text, "SE")[0][2]
    lines = text.splitlines()
    st_to_se = lines[lines.index(next(s for s in lines if s.startswith("ST*"))) : -2]
    assert segments(text, "SE")[0][1] == str(len(st_to_se))


MUTATIONS = [
    ("SE count", lambda t: re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m[1]) + 1}*", t), "SE count"),
    ("SE02", lambda t: re.sub(r"SE\*(\d+)\*\d+~", r"SE*\1*9999~", t), "does not match ST id"),
    ("GE02", lambda t: t.replace("GE*1*1201~", "GE*1*1202~"), "does not match GS id"),
    ("GE01", lambda t: t.replace("GE*1*1201~", "GE*2*1201~"), "GE count of 2"),
    ("IEA02", lambda t: t.replace("IEA*1*000001201~", "IEA*1*000001209~"), "does not match ISA"),
    (
        "ISA width",
        lambda t: t.replace("*ZZ*NTH001         *", "*ZZ*NTH001 *", 1),
        "The document does not look like",
    ),
    (
        "no HI",
        lambda t: re.sub(r"HI\*[^~]*~\n", "", t),
        'Mandatory segment "Health Care Diagnosis Code" (HI) missing',
    ),
    ("bad POS", lambda t: t.replace("10:B:1", "10:X:1"), "CLM05"),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_pyx12_catches_a_broken_837p(name: str, mutate, expected: str) -> None:
    text = batch_837p(claim())
    broken = mutate(text)
    assert broken != text
    errors = validate(broken)
    assert errors, f"pyx12 accepted the batch with {name} broken"
    assert any(expected in str(error) for error in errors), errors


def test_validation_errors_name_the_loop_segment_and_element() -> None:
    broken = batch_837p(claim()).replace("SV1*HC:99214:95*165.00*UN", "SV1*HC:99214:95*165.00*XX")
    (error,) = validate(broken)
    assert (error.loop, error.segment, error.element) == ("2400", "SV1", "SV103")
    assert "SV103" in str(error) and "loop 2400" in str(error)


@pytest.mark.parametrize("delimiter", ["*", "~", ":", "^"])
def test_a_delimiter_in_a_name_is_refused(delimiter: str) -> None:
    subscriber = dataclasses.replace(JANE, last_name=f"DOE{delimiter}SMITH")
    with pytest.raises(X12InputError, match=r"last name .* contains the X12 delimiter"):
        batch_837p(claim(subscriber=subscriber))


def test_a_replacement_claim_names_the_claim_it_replaces() -> None:
    text = batch_837p(claim(frequency_code="7", payer_claim_control_number="PCN-001"))
    assert_valid(text)
    assert segments(text, "CLM")[0][5] == "10:B:7"
    assert segments(text, "REF")[-1] == ["REF", "F8", "PCN-001"]
    with pytest.raises(X12InputError, match="does not name the payer's claim control number"):
        batch_837p(claim(frequency_code="8"))


def test_accents_are_dropped_so_names_stay_in_the_x12_character_set() -> None:
    text = batch_837p(
        claim(subscriber=dataclasses.replace(JANE, last_name="Núñez", first_name="José"))
    )
    assert_valid(text)
    assert segments(text, "NM1")[3][1:5] == ["IL", "1", "Nunez", "Jose"]
    with pytest.raises(X12InputError, match="outside X12's character set"):
        batch_837p(claim(subscriber=dataclasses.replace(JANE, last_name="李")))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"diagnosis_codes": ()}, "has no diagnosis"),
        ({"diagnosis_codes": ("E11.9", "XYZ")}, "diagnosis 'XYZ' is not valid"),
        ({"lines": ()}, "has no service lines"),
        ({"place_of_service": "2"}, "place of service '2' is not valid"),
        ({"claim_id": "A" * 21}, "longer than 20 characters"),
        ({"billing_provider": dataclasses.replace(CLINIC, npi="12345")}, "NPI '12345'"),
        (
            {"rendering_provider": dataclasses.replace(DOCTOR, npi="1245319590")},
            "NPI '1245319590' has a wrong check digit",
        ),
        (
            {"billing_provider": dataclasses.replace(CLINIC, address=JANE.address)},
            "ZIP code '78702' must have 9 digits",
        ),
        (
            {"lines": (dataclasses.replace(VIDEO_VISIT, diagnosis_pointers=(3,)),)},
            "pointer 3 points past the 2 diagnoses",
        ),
        (
            {"lines": (dataclasses.replace(VIDEO_VISIT, charge=Decimal(0)),)},
            "charge must be more than zero",
        ),
        ({"subscriber": dataclasses.replace(JANE, sex="X")}, "sex 'X'"),
    ],
)
def test_claims_that_cannot_be_written_are_refused_with_the_reason(
    changes: dict, message: str
) -> None:
    with pytest.raises(X12InputError, match=re.escape(message)):
        batch_837p(claim(**changes))


# 835 ---------------------------------------------------------------------------------


def round_trip_claims() -> tuple[Claim, Claim]:
    monitoring = ServiceLine("99454", Decimal("48.00"), VISIT_DAY, (1,))
    management = ServiceLine("99457", Decimal("52.00"), VISIT_DAY, (1,))
    return claim("ENC-1", lines=(VIDEO_VISIT, monitoring)), claim(
        "ENC-2", patient=TIM, lines=(management,)
    )


def test_835_round_trip_shows_paid_adjusted_and_denied_lines() -> None:
    visit_claim, denied_claim = round_trip_claims()
    assert_valid(batch_837p(visit_claim, denied_claim))
    era = remittance_835(
        payer=PAYER,
        payee=Payee(CLINIC.name, CLINIC.npi),
        payments=(
            ClaimPayment(
                visit_claim,
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
                denied_claim,
                "PCN-002",
                (LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),), ("N130",)),),
                remarks=("MA130",),
            ),
        ),
        check_number="EFT7788",
        payment_date=dt.date(2026, 12, 2),
        control_number=55,
        now=NOW,
        sender_id="LSHP1",
        receiver_id="NTH001",
    )
    assert_valid(era)
    remittance = parse_835(era)
    assert (remittance.check_number, remittance.payment_date) == ("EFT7788", dt.date(2026, 12, 2))
    assert remittance.total_paid == Decimal("158.00")
    assert remittance.payee_identifier == CLINIC.npi
    paid, denied = remittance.claims
    assert (paid.claim_id, paid.status, paid.paid) == (
        "ENC-1",
        "processed as primary",
        Decimal(158),
    )
    assert paid.patient_responsibility == Decimal("20.00")
    assert paid.payer_claim_control_number == "PCN-001"
    adjusted_line, full_line = paid.lines
    assert (adjusted_line.procedure_code, adjusted_line.modifiers) == ("99214", ("95",))
    assert [(a.group, a.reason, a.amount) for a in adjusted_line.adjustments] == [
        ("CO", "45", Decimal("35.00")),
        ("PR", "3", Decimal("20.00")),
    ]
    assert adjusted_line.adjustments[1].description == (
        "Co-payment: the patient owes this fixed amount. (patient responsibility)"
    )
    assert full_line.paid == full_line.charged == Decimal("48.00") and not full_line.adjustments
    assert (denied.claim_id, denied.status_code, denied.status) == ("ENC-2", "4", "denied")
    assert denied.remarks == ("MA130",)
    assert denied.remark_descriptions[0].startswith("The claim cannot be appealed as sent")
    (denied_line,) = denied.lines
    assert denied_line.is_denied and denied_line.service_date == VISIT_DAY
    assert denied_line.remarks == ("N130",)
    assert "benefit documents" in denied_line.remark_descriptions[0]
    assert "medically necessary" in denied_line.adjustments[0].description


def simple_remittance(control_number: int, check_number: str) -> str:
    visit_claim = claim("ENC-9")
    return remittance_835(
        payer=PAYER,
        payee=Payee(CLINIC.name, CLINIC.npi),
        payments=(ClaimPayment(visit_claim, "PCN-9", (LinePayment(VIDEO_VISIT.charge),)),),
        check_number=check_number,
        payment_date=dt.date(2026, 12, 2),
        control_number=control_number,
        now=NOW,
        sender_id="LSHP1",
        receiver_id="NTH001",
    )


def test_a_file_of_several_payments_is_read_payment_by_payment() -> None:
    text = simple_remittance(1, "CHK-1") + simple_remittance(2, "CHK-2")
    assert_valid(text)
    assert [p.check_number for p in parse_835_payments(text)] == ["CHK-1", "CHK-2"]
    with pytest.raises(ValueError, match="holds 2 payments; read it with parse_835_payments"):
        parse_835(text)


def test_a_remittance_line_that_does_not_balance_is_refused() -> None:
    visit_claim, _ = round_trip_claims()
    with pytest.raises(X12InputError, match="does not balance"):
        remittance_835(
            payer=PAYER,
            payee=Payee(CLINIC.name, CLINIC.npi),
            payments=(
                ClaimPayment(
                    visit_claim, "PCN", (LinePayment(Decimal(100)), LinePayment(Decimal(48)))
                ),
            ),
            check_number="1",
            payment_date=dt.date(2026, 12, 2),
            control_number=1,
            now=NOW,
            sender_id="LSHP1",
            receiver_id="NTH001",
        )


def test_the_pyx12_projects_published_835_parses() -> None:
    remittance = parse_835((FIXTURES / "pyx12_835_mult_loops.txt").read_text())
    assert (remittance.payer_name, remittance.payment_method) == ("PAYER", "NON")
    assert remittance.total_paid == 0
    (denied,) = remittance.claims
    assert (denied.claim_id, denied.status, denied.charged) == (
        "2005555A",
        "denied",
        Decimal("915.39"),
    )
    assert denied.payer_claim_control_number == "4276512332"
    assert [line.units for line in denied.lines] == [68, 16, 36]
    assert sum(line.charged for line in denied.lines) == denied.charged
    first = denied.lines[0]
    assert (first.procedure_code, first.service_date) == ("T1005", dt.date(2003, 11, 29))
    assert [(a.group, a.reason, a.amount) for a in first.adjustments] == [
        ("CO", "16", Decimal("500.04"))
    ]
    assert first.remarks == ("N14",)
    assert first.remark_descriptions == ("Unknown remark code N14.",)


def test_an_invalid_835_is_refused_with_the_validators_message() -> None:
    published = (FIXTURES / "pyx12_835_mult_loops.txt").read_text()
    with pytest.raises(X12ValidationError) as refused:
        parse_835(published.replace("SE*31*0001~", "SE*30*0001~"))
    assert "SE count of 30 for SE02=0001 is wrong. I count 31" in str(refused.value)
    assert refused.value.errors[0].segment == "ST"


def test_a_file_that_is_not_x12_is_refused() -> None:
    with pytest.raises(X12ValidationError, match="Not an X12 document"):
        parse_835("Dear provider, your payment is on its way.")


def test_codes_are_described_in_words_and_unknown_codes_say_so() -> None:
    assert carc_description("97").startswith("Paid as part of another service")
    assert rarc_description("N290").startswith("The rendering provider's identifier")
    assert carc_description("B7") == "Unknown adjustment reason code B7."
    assert rarc_description("ZZ9") == "Unknown remark code ZZ9."
