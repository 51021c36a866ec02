"""Validators for the identifiers every app shares: phones, emails, NPIs, zones, states."""

import zoneinfo

import idna
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


def normalise_phone(raw: str, region: str = "US", *, extension: bool = False) -> str:
    """The E.164 form of a phone number, or ValidationError with a reason a person can act on.
    A number written without a country code is read as one of `region` (the practice's
    country). An extension is kept only where asked for (a practice's desk line, as
    "+16175550100;ext=12", RFC 3966's spelling): texts cannot reach one, so a number we text
    is refused with one rather than cut short."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("Enter a phone number such as (617) 555-0100 or +1 617 555 0100."),
            code="invalid_phone",
        ) from exc
    if number.extension and not extension:
        raise ValidationError(
            _("Texts cannot reach an extension. Enter a mobile number without one."),
            code="phone_extension",
        )
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(number)s is not a valid phone number.") % {"number": raw}, code="invalid_phone"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def validate_region(value: str) -> None:
    """A country phone numbers can be read in: ISO 3166-1 alpha-2, as phonenumbers knows it."""
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            _("Enter a two-letter country code, such as US or GB."), code="invalid_region"
        )


def ascii_domain(domain: str) -> str | None:
    """A domain in its ASCII (IDNA, "punycode") form, by UTS #46 with IDNA 2008, as browsers
    and mail servers read it: straße.de stays distinct from strasse.de (Python's own "idna"
    codec is IDNA 2003, which folds ß into ss, ς into σ and drops joiners). None when the
    domain is not a valid international name."""
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def canonical_email(raw: str) -> str:
    """One spelling per address, for storing, comparing and blind indexes: trimmed, lower
    case, and the domain in its ASCII form (ascii_domain), so ana@bücher.example and
    ana@xn--bcher-kva.example are the same person. A domain that is not a valid
    international name is kept as typed (normalise_email refuses it)."""
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    encoded = ascii_domain(domain)
    return f"{local}@{encoded}" if encoded else email


def normalise_email(raw: str) -> str:
    email = canonical_email(raw)
    if not email.rpartition("@")[2].isascii():
        raise ValidationError(
            _("%(email)s is not a valid email address: its domain cannot be spelled in ASCII.")
            % {"email": raw.strip()},
            code="invalid",
        )
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
