"""Intake data. The models arrive with the intake issue."""
