"""Panels of the e-consult case page from the apps above visits (see case_panels): billing's
codes for the side of the case the reader is on."""

from visits.case_panels import CasePanels

_panels = CasePanels()
register = _panels.register
unregister = _panels.unregister
render_panels = _panels.render
