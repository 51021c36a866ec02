from django.contrib import admin

from rpm.models import Threshold
from telehealth.accounts.admin import PracticeScopedAdmin
from telehealth.accounts.models import Patient


@admin.register(Threshold)
class ThresholdAdmin(PracticeScopedAdmin):
    """Practice limits per program (blank program: every program) and one patient's own
    limits, which replace the practice's for that vital."""

    list_display = ["__str__", "program", "patient", "severity"]
    list_filter = ["vital", "severity", "program"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient" and not request.user.is_superuser:
            kwargs["queryset"] = Patient.objects.filter(practice_id=request.user.practice_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
