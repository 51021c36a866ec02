"""Plain-word meanings of the remittance codes we see most on telehealth claims.

CARC (Claim Adjustment Reason Codes, CAS02/05/...) and RARC (Remittance Advice Remark
Codes, LQ02) are maintained by X12 at x12.org/codes/claim-adjustment-reason-codes and
x12.org/codes/remittance-advice-remark-codes. The sentences below are our own summaries,
written for front-desk staff after reading those lists; they are not X12's wording, and a
code that is not here is shown as unknown with its number so staff can look it up.
"""

from __future__ import annotations

GROUPS = {
    "CO": "contractual obligation (written off by the practice)",
    "CR": "correction or reversal",
    "OA": "other adjustment",
    "PI": "payer-initiated reduction",
    "PR": "patient responsibility",
}

CARC = {
    "1": "Deductible: the patient owes this amount.",
    "2": "Coinsurance: the patient owes this share.",
    "3": "Co-payment: the patient owes this fixed amount.",
    "4": "The procedure code does not fit the modifier sent, or a required modifier is missing.",
    "16": "The claim is missing information or has an error; fix and resubmit.",
    "18": "Duplicate of a claim or service already received.",
    "22": "Another payer may cover this first (coordination of benefits).",
    "23": "Reduced because of what an earlier payer already paid or allowed.",
    "27": "The service was after the patient's coverage ended.",
    "29": "The time limit for filing this claim has passed.",
    "45": "The charge is above the fee schedule or contracted amount.",
    "50": "Not covered: the payer does not consider it medically necessary.",
    "96": "Not a covered charge.",
    "97": "Paid as part of another service or procedure (bundled).",
    "109": "This payer does not cover this claim; send it to the right payer.",
    "119": "The patient has reached the benefit maximum for this period.",
    "197": "Prior authorization or precertification was missing.",
    "204": "The patient's current benefit plan does not cover this service.",
    "242": "Not provided by a network or primary care provider.",
    "253": "Sequestration: the federal across-the-board payment reduction.",
}

RARC = {
    "M15": "Separately billed services were bundled into one procedure.",
    "M51": "A procedure code is missing, incomplete or invalid.",
    "M76": "A diagnosis is missing, incomplete or invalid.",
    "MA04": "A secondary payment needs the primary payer's information.",
    "MA130": "The claim cannot be appealed as sent: correct it and send a new claim.",
    "N4": "The prior payer's explanation of benefits is missing or invalid.",
    "N20": "Not paid when billed with another service on the same date.",
    "N130": "See the plan's benefit documents for limits on this service.",
    "N290": "The rendering provider's identifier is missing or invalid.",
    "N362": "More days or units than the payer accepts.",
}


def group_description(code: str) -> str:
    return GROUPS.get(code, f"unknown adjustment group {code}")


def carc_description(code: str) -> str:
    return CARC.get(code, f"Unknown adjustment reason code {code}.")


def rarc_description(code: str) -> str:
    return RARC.get(code, f"Unknown remark code {code}.")
