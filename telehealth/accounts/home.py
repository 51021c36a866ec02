"""Panels of the home pages that come from the apps above the core: the patient's next visit,
the clinician's schedule, alerts and messages, the front desk's day and shared inbox.

The core cannot import those apps, so each registers a panel in its AppConfig.ready: a
function of (request) that returns rendered HTML, or "" when it has nothing for this user or
their role (every role's home page asks every panel). A panel reads only through its app's
selectors, so it shows no more than the app's own pages would. The home page lists them by
`order`, then registration order, above its fixed panels."""

from collections.abc import Callable

Panel = Callable[..., str]
_panels: list[tuple[int, Panel]] = []


def register(panel: Panel, *, order: int = 50) -> Panel:
    if all(known is not panel for _, known in _panels):
        _panels.append((order, panel))
        _panels.sort(key=lambda entry: entry[0])  # stable: ties keep registration order
    return panel


def render_panels(request) -> list[str]:
    # Each is a SafeString from render_to_string, so the template does not escape it.
    return [html for _, panel in _panels if (html := panel(request))]
