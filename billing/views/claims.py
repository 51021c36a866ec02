"""Pages of billing: claims."""
