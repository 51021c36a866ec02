"""Pages of billing: superbills."""
