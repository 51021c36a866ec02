"""Messaging data. The models arrive with the messaging issue."""
