"""Pages of billing: encounters."""
