"""How the identifiers every app stores are shown to people: US states by name, time zones
by a readable name with their current UTC offset, phone numbers in the reader's national
format. Stored values stay codes, IANA names and E.164; only what is shown changes."""

import zoneinfo
from collections.abc import Iterable
from datetime import datetime
from functools import cache

import phonenumbers
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# fmt: off
US_STATE_NAMES: dict[str, Promise] = {
    "AL": _("Alabama"), "AK": _("Alaska"), "AZ": _("Arizona"), "AR": _("Arkansas"),
    "CA": _("California"), "CO": _("Colorado"), "CT": _("Connecticut"), "DE": _("Delaware"),
    "DC": _("District of Columbia"), "FL": _("Florida"), "GA": _("Georgia"),
    "HI": _("Hawaii"), "ID": _("Idaho"), "IL": _("Illinois"), "IN": _("Indiana"),
    "IA": _("Iowa"), "KS": _("Kansas"), "KY": _("Kentucky"), "LA": _("Louisiana"),
    "ME": _("Maine"), "MD": _("Maryland"), "MA": _("Massachusetts"), "MI": _("Michigan"),
    "MN": _("Minnesota"), "MS": _("Mississippi"), "MO": _("Missouri"), "MT": _("Montana"),
    "NE": _("Nebraska"), "NV": _("Nevada"), "NH": _("New Hampshire"), "NJ": _("New Jersey"),
    "NM": _("New Mexico"), "NY": _("New York"), "NC": _("North Carolina"),
    "ND": _("North Dakota"), "OH": _("Ohio"), "OK": _("Oklahoma"), "OR": _("Oregon"),
    "PA": _("Pennsylvania"), "RI": _("Rhode Island"), "SC": _("South Carolina"),
    "SD": _("South Dakota"), "TN": _("Tennessee"), "TX": _("Texas"), "UT": _("Utah"),
    "VT": _("Vermont"), "VA": _("Virginia"), "WA": _("Washington"),
    "WV": _("West Virginia"), "WI": _("Wisconsin"), "WY": _("Wyoming"),
    "PR": _("Puerto Rico"), "VI": _("U.S. Virgin Islands"), "GU": _("Guam"),
    "AS": _("American Samoa"), "MP": _("Northern Mariana Islands"),
}
# fmt: on


def state_name(code: str) -> str:
    """The state's name in the active language; an unknown code is shown as stored."""
    name = US_STATE_NAMES.get((code or "").upper())
    return str(name) if name is not None else code


def state_choices() -> list[tuple[str, str]]:
    """(code, name) for a select, ordered by name in the active language."""
    return sorted(((code, str(name)) for code, name in US_STATE_NAMES.items()), key=_by_label)


def _by_label(choice: tuple[str, str]) -> str:
    return choice[1].casefold()


# The zones most of our patients and providers live in, shown first: the mainland east to
# west, then Alaska, Hawaii and Puerto Rico.
COMMON_ZONES: dict[str, tuple[Promise, Promise]] = {
    "America/New_York": (_("Eastern Time"), _("New York")),
    "America/Chicago": (_("Central Time"), _("Chicago")),
    "America/Denver": (_("Mountain Time"), _("Denver")),
    "America/Phoenix": (_("Mountain Time"), _("Arizona")),
    "America/Los_Angeles": (_("Pacific Time"), _("Los Angeles")),
    "America/Anchorage": (_("Alaska Time"), _("Anchorage")),
    "Pacific/Honolulu": (_("Hawaii Time"), _("Honolulu")),
    "America/Puerto_Rico": (_("Atlantic Time"), _("Puerto Rico")),
}

# Areas of the IANA database that name places; the rest (Etc/GMT+5, US/Eastern, EST5EDT)
# are aliases and legacy names nobody should have to scroll past.
_PLACE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def utc_offset(name: str, *, at: datetime | None = None) -> str:
    """'UTC−05:00' for the zone at `at` (default now), daylight saving included."""
    moment = at or timezone.now()
    offset = moment.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "\u2212"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def _place(name: str) -> str:
    """'Buenos Aires — America / Argentina' for America/Argentina/Buenos_Aires."""
    parts = name.replace("_", " ").split("/")
    if len(parts) == 1:
        return parts[0]
    return f"{parts[-1]} — {' / '.join(parts[:-1])}"


def zone_label(name: str, *, at: datetime | None = None) -> str:
    """A readable name with the offset at `at` (default now): 'Eastern Time — New York
    (UTC−05:00)'. An unknown name is returned as stored."""
    if name not in _all_zones():
        return name
    common = COMMON_ZONES.get(name)
    place = f"{common[0]} — {common[1]}" if common else _place(name)
    return f"{place} ({utc_offset(name, at=at)})"


@cache
def _all_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _listed_zones() -> list[str]:
    return [
        name
        for name in _all_zones()
        if name == "UTC" or (name.split("/")[0] in _PLACE_AREAS and name not in COMMON_ZONES)
    ]


def zone_choices(
    *, include: Iterable[str] = (), every: bool = True, at: datetime | None = None
) -> list[tuple[str, str]]:
    """(IANA name, label) for a select: the common US zones, then `include`
    (a stored value, the visitor's zone) and, with `every`, every other place's zone, west
    to east by current offset."""
    moment = at or timezone.now()
    first = list(COMMON_ZONES)
    rest = set(_listed_zones()) if every else set()
    rest |= {name for name in include if name in _all_zones() and name not in COMMON_ZONES}

    def west_to_east(name: str) -> tuple[float, str]:
        offset = moment.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
        return (offset.total_seconds() if offset else 0.0, _place(name))

    return [(name, zone_label(name, at=moment)) for name in first + sorted(rest, key=west_to_east)]


# The country whose numbers are shown in national format: the practices are in the US
# (patients are booked against US state licensure).
HOME_REGION = "US"


def format_phone(value: str, *, region: str = HOME_REGION) -> str:
    """'(617) 555-0100' for a number of `region`, '+44 20 7946 0958' for any other; a value
    that is not a phone number is shown as stored."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value
    if not phonenumbers.is_possible_number(number):
        return value
    own = phonenumbers.region_code_for_number(number) == region
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if own
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style)
