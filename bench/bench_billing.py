"""Billing's X12 border, measured against pyx12 in the same run:

    python bench/bench_billing.py

An 837P batch of 1,000 claims (two lines each, 20 billing providers, one in four patients a
dependent) is generated, then validated by pyx12; a 1,000-claim 835 for it is generated and
read back (reading validates it first). Generation should stay well under a tenth of the
validation it is always followed by. No database. Prints readable lines, then one JSON line
with the figures last."""

import datetime as dt
import json
import sys
import time
from decimal import Decimal

from common import ROOT, median_us

sys.path.insert(0, str(ROOT))

from billing.x12 import (  # noqa: E402
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
    claim_batch_837p,
    parse_835,
    remittance_835,
    validate,
)

CLAIMS = 1_000
PROVIDERS = 20
NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 16)


def npi(seed: int) -> str:
    """A ten-digit NPI with a valid Luhn check digit (prefix 80840, as the NPI rule says)."""
    body = f"1{seed:08d}"
    digits = [int(d) for d in "80840" + body]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def batch() -> ClaimBatch:
    address = Address("100 CONGRESS AVE", "AUSTIN", "TX", "787010001")
    providers = [
        BillingProvider(f"CLINIC {n}", npi(n), f"{100000000 + n}", address)
        for n in range(PROVIDERS)
    ]
    claims = []
    for n in range(CLAIMS):
        subscriber = Subscriber(
            "LONE STAR HEALTH PLAN", "LSHP1", f"W{n:09d}", f"PATIENT{n}", "ALEX",
            dt.date(1970 + n % 40, 1 + n % 12, 1 + n % 28), "F" if n % 2 else "M", address,
        )  # fmt: skip
        dependent = Patient("CHILD", "SAM", dt.date(2015, 1, 1), "U", address, "19")
        lines = (
            ServiceLine("99214", Decimal("165.00"), DAY, (1, 2), modifiers=("95",)),
            ServiceLine("99457", Decimal("52.00"), DAY, (1,)),
        )
        claims.append(
            Claim(
                claim_id=f"ENC{n:08d}",
                billing_provider=providers[n % PROVIDERS],
                subscriber=subscriber,
                diagnosis_codes=("E11.9", "I10", "E78.5"),
                lines=lines,
                place_of_service="10",
                rendering_provider=RenderingProvider("RIVERA", "ANA", npi(10_000 + n % 60)),
                patient=dependent if n % 4 == 0 else None,
            )
        )
    submitter = Submitter("NORTHSIDE TELEHEALTH", "NTH001", "BILLING OFFICE", "5125550100")
    return ClaimBatch(submitter, Receiver("AUSTIN CLEARINGHOUSE", "ACH01"), tuple(claims))


def remittance(claims: tuple[Claim, ...]) -> str:
    paid = LinePayment(Decimal("110.00"), (Adjustment("CO", "45", Decimal("55.00")),))
    denied = LinePayment(Decimal(0), (Adjustment("CO", "50", Decimal("52.00")),), ("N130",))
    return remittance_835(
        payer=Payer(
            "LONE STAR HEALTH PLAN",
            "1999999999",
            Address("PO BOX 9", "DALLAS", "TX", "75201"),
            "8005550199",
        ),
        payee=Payee("NORTHSIDE TELEHEALTH", claims[0].billing_provider.npi),
        payments=tuple(ClaimPayment(c, f"PCN{i}", (paid, denied)) for i, c in enumerate(claims)),
        check_number="EFT1",
        payment_date=DAY,
        control_number=2,
        now=NOW,
        sender_id="LSHP1",
        receiver_id="NTH001",
    )


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    claims = batch()
    text = claim_batch_837p(claims, control_number=1, now=NOW)
    generate_ms = median_us(lambda: claim_batch_837p(claims, control_number=1, now=NOW)) / 1000
    errors: list = []
    validate_ms = seconds(lambda: errors.extend(validate(text))) * 1000
    era = remittance(claims.claims)
    era_generate_ms = median_us(lambda: remittance(claims.claims), rounds=3) / 1000
    read: list = []
    era_read_ms = seconds(lambda: read.append(parse_835(era))) * 1000
    figures = {
        "benchmark": "billing_x12",
        "claims": CLAIMS,
        "segments_837p": text.count("~"),
        "pyx12_errors": len(errors),
        "generate_837p_ms": round(generate_ms, 1),
        "validate_837p_ms": round(validate_ms, 1),
        "validation_vs_generation": round(validate_ms / generate_ms, 1),
        "generate_835_ms": round(era_generate_ms, 1),
        "read_835_ms": round(era_read_ms, 1),
        "read_835_claims": len(read[0].claims),
    }
    print(
        f"837P, {CLAIMS:,} claims       generated in {figures['generate_837p_ms']} ms, "
        f"validated by pyx12 in {figures['validate_837p_ms']} ms "
        f"(x{figures['validation_vs_generation']}), {len(errors)} errors"
    )
    print(
        f"835, {CLAIMS:,} claims        generated in {figures['generate_835_ms']} ms, "
        f"validated and read in {figures['read_835_ms']} ms"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
