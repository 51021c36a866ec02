"""Billing data. The models arrive with the billing issue."""
