"""Scheduling data. The models arrive with the scheduling issue."""
