"""Panels of the patient's home page that come from the apps above the core (their next
visit, with its join action).

The core cannot import those apps, so each registers a panel in its AppConfig.ready: a
function of (request) that returns rendered HTML, or "" when it has nothing to show. The home
page lists them in registration order, above its fixed panels."""

from collections.abc import Callable

Panel = Callable[..., str]
_panels: list[Panel] = []


def register(panel: Panel) -> Panel:
    if panel not in _panels:
        _panels.append(panel)
    return panel


def render_panels(request) -> list[str]:
    # Each is a SafeString from render_to_string, so the template does not escape it.
    return [html for panel in _panels if (html := panel(request))]
