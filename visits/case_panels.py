"""Panels of a clinician's case page (an e-visit's or an e-consult's) that come from the apps
above visits.

What a case's minutes are worth is not visits' business. An app above it (billing: the codes
the minutes reach) registers a panel in its AppConfig.ready: a function of (request, case)
that returns rendered HTML, or "" when it has nothing for this user. visits never imports
those apps; without them the page simply has no such panel. A panel reads only through
selectors, and the page has already checked that the user may see this case (the case's
`access_*` selector)."""

from collections.abc import Callable

Panel = Callable[..., str]


class CasePanels:
    """The panels registered for one kind of case page."""

    def __init__(self) -> None:
        self._panels: list[Panel] = []

    def register(self, panel: Panel) -> Panel:
        if panel not in self._panels:
            self._panels.append(panel)
        return panel

    def unregister(self, panel: Panel) -> None:
        """For tests that show the page without an app's panel."""
        if panel in self._panels:
            self._panels.remove(panel)

    def render(self, request, case) -> list[str]:
        # Each is a SafeString from render_to_string, so the template does not escape it.
        return [html for panel in list(self._panels) if (html := panel(request, case))]
