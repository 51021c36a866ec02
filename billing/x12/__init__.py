"""The X12 border: 837P claims out, 835 remittances in, both checked by pyx12.

Pure functions over frozen dataclasses; nothing here reads or writes the database, so the
billing services can feed it from their models and the tests can run it without one.
"""

from .claims import (
    Address,
    BillingProvider,
    Claim,
    ClaimBatch,
    Patient,
    Receiver,
    RenderingProvider,
    ServiceLine,
    Submitter,
    Subscriber,
    claim_batch_837p,
)
from .codes import carc_description, group_description, rarc_description
from .envelope import X12InputError
from .remittance import (
    Adjustment,
    Remittance,
    RemittanceClaim,
    RemittanceLine,
    parse_835,
    parse_835_payments,
)
from .remittance_builder import ClaimPayment, LinePayment, Payee, Payer, remittance_835
from .validate import X12Error, X12ValidationError, validate

__all__ = [
    "Address",
    "Adjustment",
    "BillingProvider",
    "Claim",
    "ClaimBatch",
    "ClaimPayment",
    "LinePayment",
    "Patient",
    "Payee",
    "Payer",
    "Receiver",
    "Remittance",
    "RemittanceClaim",
    "RemittanceLine",
    "RenderingProvider",
    "ServiceLine",
    "Submitter",
    "Subscriber",
    "X12Error",
    "X12InputError",
    "X12ValidationError",
    "carc_description",
    "claim_batch_837p",
    "group_description",
    "parse_835",
    "parse_835_payments",
    "rarc_description",
    "remittance_835",
    "validate",
]
