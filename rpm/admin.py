from django.contrib import admin

from rpm.models import Threshold
from telehealth.accounts.admin import PracticeScopedAdmin


@admin.register(Threshold)
class ThresholdAdmin(PracticeScopedAdmin):
    """Practice limits per program (blank program: every program) and one patient's own
    limits, which replace the practice's for that vital."""

    list_display = ["__str__", "program", "patient", "severity"]
    list_filter = ["vital", "severity", "program"]
