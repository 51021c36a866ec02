"""How fast a reminder batch leaves, by the kind of number the practice texts from.

Carriers meter texts in segments per second; a batch of N segments drains in N / rate seconds.
Rates change: each row says when it was checked and where it comes from."""

from dataclasses import dataclass
from datetime import date

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class SenderRate:
    key: str
    label: str | Promise
    segments_per_second: float
    checked: date
    source: str


SENDER_RATES: tuple[SenderRate, ...] = (
    SenderRate(
        "long_code",
        _("Long code (unregistered)"),
        1.0,
        date(2026, 12, 5),
        "Twilio, default MPS of a US long code",
    ),
    SenderRate(
        "toll_free",
        _("Toll-free (verified)"),
        3.0,
        date(2026, 12, 5),
        "Twilio, default MPS of a verified toll-free number",
    ),
    SenderRate(
        "10dlc_high",
        _("10DLC, vetting score 75-100"),
        4500 / 60,
        date(2026, 12, 5),
        "AT&T message class A/B, 4,500 SMS per minute (Telnyx, 10DLC rate limits)",
    ),
    SenderRate(
        "10dlc_medium",
        _("10DLC, vetting score 50-74"),
        2400 / 60,
        date(2026, 12, 5),
        "AT&T message class C/D, 2,400 SMS per minute (Telnyx, 10DLC rate limits)",
    ),
    SenderRate(
        "10dlc_low",
        _("10DLC, vetting score 1-49"),
        240 / 60,
        date(2026, 12, 5),
        "AT&T message class E/F, 240 SMS per minute (Telnyx, 10DLC rate limits)",
    ),
    SenderRate(
        "10dlc_low_volume",
        _("10DLC, low-volume mixed"),
        75 / 60,
        date(2026, 12, 5),
        "AT&T message class T, 75 SMS per minute (Telnyx, 10DLC rate limits)",
    ),
    SenderRate(
        "short_code",
        _("Short code"),
        100.0,
        date(2026, 12, 5),
        "Twilio, default MPS of a US short code",
    ),
)

SENDERS = {rate.key: rate for rate in SENDER_RATES}


def drain_seconds(*, segments: int, sender: str) -> float:
    return segments / SENDERS[sender].segments_per_second
