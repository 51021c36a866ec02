"""Pages of billing: worklists."""
