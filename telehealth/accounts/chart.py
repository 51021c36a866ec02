"""Sections of the patient chart that come from the apps above the core.

The core cannot import those apps, so each registers a section in its AppConfig.ready: a
function of (request, patient) that returns rendered HTML, or "" when it has nothing to show
this user. The chart view lists them in registration order."""

from collections.abc import Callable

Section = Callable[..., str]
_sections: list[Section] = []


def register(section: Section) -> Section:
    if section not in _sections:
        _sections.append(section)
    return section


def render_sections(request, patient) -> list[str]:
    # Each is a SafeString from render_to_string, so the template does not escape it.
    return [html for section in _sections if (html := section(request, patient))]
