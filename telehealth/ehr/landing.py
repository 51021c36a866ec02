"""Where a clinician lands after an EHR launch: the visit room, which belongs to `visits`.

The core cannot import that app, so it registers a finder in its AppConfig.ready (as chart
sections do): a function of (clinician, patient, appointment_id, visit_id) that returns the
room's URL, None when the patient has no visit with this clinician today, or raises
`LandingRefused` when the EHR's encounter names a visit that does not fit."""

from collections.abc import Callable

from telehealth.accounts.fhir import PRACTICE_SYSTEM
from telehealth.accounts.models import Practice

Finder = Callable[..., str | None]
_finders: list[Finder] = []


class LandingRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def register(finder: Finder) -> Finder:
    if finder not in _finders:
        _finders.append(finder)
    return finder


def appointment_system(practice: Practice) -> str:
    """The identifier system under which an EHR's Encounter may carry our appointment id."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:appointment"


def visit_system(practice: Practice) -> str:
    """The identifier system under which an EHR's Encounter may carry our visit id."""
    return f"{PRACTICE_SYSTEM}:{practice.slug}:visit"


def find_room(
    *, clinician, patient, appointment_id: int | None, visit_id: int | None
) -> str | None:
    for finder in _finders:
        url = finder(
            clinician=clinician, patient=patient, appointment_id=appointment_id, visit_id=visit_id
        )
        if url:
            return url
    return None
