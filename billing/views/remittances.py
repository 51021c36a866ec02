"""Pages of billing: remittances."""
