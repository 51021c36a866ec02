"""Validators for the identifiers every app shares: phones, emails, NPIs, zones, states."""

import zoneinfo

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

# fmt: off
US_STATES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY", "PR", "VI", "GU", "AS", "MP",
})
# fmt: on


def normalise_phone(raw: str, region: str = "US") -> str:
    """The E.164 form of a phone number, or ValidationError with a reason a person can act on."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("Enter a phone number such as (617) 555-0100 or +1 617 555 0100."),
            code="invalid_phone",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(number)s is not a valid phone number.") % {"number": raw}, code="invalid_phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    validate_email(email)
    return email


def validate_npi(value: str) -> None:
    """A National Provider Identifier: ten digits with a Luhn check over the 80840 prefix."""
    if len(value) != 10 or not value.isdigit():
        raise ValidationError("An NPI is ten digits.", code="invalid_npi")
    digits = [int(d) for d in "80840" + value]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    if total % 10:
        raise ValidationError("This NPI fails its check digit.", code="invalid_npi")


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Unknown time zone: {value}", code="invalid_time_zone")


def validate_state(value: str) -> None:
    if value.upper() not in US_STATES:
        raise ValidationError(_("Choose a US state."), code="invalid_state")
