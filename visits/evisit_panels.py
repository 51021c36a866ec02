"""Panels of the clinician's e-visit case page that come from the apps above visits.

What a case's minutes are worth is not visits' business. An app above it (billing: the online
visit codes the minutes reach) registers a panel in its AppConfig.ready: a function of
(request, evisit) that returns rendered HTML, or "" when it has nothing for this user. visits
never imports those apps; without them the page simply has no such panel. A panel reads only
through selectors, and the page has already checked that the user may see this case
(visits.evisit_selectors.access_evisit)."""

from collections.abc import Callable

Panel = Callable[..., str]
_panels: list[Panel] = []


def register(panel: Panel) -> Panel:
    if panel not in _panels:
        _panels.append(panel)
    return panel


def unregister(panel: Panel) -> None:
    """For tests that show the page without an app's panel."""
    if panel in _panels:
        _panels.remove(panel)


def render_panels(request, evisit) -> list[str]:
    # Each is a SafeString from render_to_string, so the template does not escape it.
    return [html for panel in list(_panels) if (html := panel(request, evisit))]
