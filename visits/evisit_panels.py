"""Panels of the clinician's e-visit case page from the apps above visits (see case_panels)."""

from visits.case_panels import CasePanels

_panels = CasePanels()
register = _panels.register
unregister = _panels.unregister
render_panels = _panels.render
