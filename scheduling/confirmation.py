"""Sections of the appointment page (the booking confirmation and the manage link) that come
from the apps above scheduling.

Scheduling cannot import those apps, so each registers a section in its AppConfig.ready: a
function of (request, appointment) that returns rendered HTML, or "" when it has nothing to
say about this appointment. The page lists them in registration order."""

from collections.abc import Callable

from django.http import HttpRequest

from scheduling.models import Appointment

Section = Callable[[HttpRequest, Appointment], str]
_sections: list[Section] = []


def register(section: Section) -> Section:
    if section not in _sections:
        _sections.append(section)
    return section


def render_sections(request: HttpRequest, appointment: Appointment) -> list[str]:
    # Each is a SafeString from render_to_string, so the template does not escape it.
    return [html for section in _sections if (html := section(request, appointment))]
