from django.contrib import admin

from scheduling.models import (
    AppointmentType,
    AvailabilityException,
    AvailabilityRule,
    ReminderRule,
)
from telehealth.accounts.admin import PracticeScopedAdmin


@admin.register(AppointmentType)
class AppointmentTypeAdmin(PracticeScopedAdmin):
    list_display = [
        "name",
        "name_es",
        "modality",
        "duration_minutes",
        "bookable_online",
        "is_active",
    ]
    list_filter = ["modality", "bookable_online", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["providers"]


@admin.register(AvailabilityRule)
class AvailabilityRuleAdmin(PracticeScopedAdmin):
    practice_field = "provider__practice"
    list_display = ["provider", "weekday", "start_time", "end_time", "valid_from", "valid_until"]
    list_filter = ["provider", "weekday"]


@admin.register(AvailabilityException)
class AvailabilityExceptionAdmin(PracticeScopedAdmin):
    practice_field = "provider__practice"
    list_display = ["provider", "date", "kind", "start_time", "end_time", "note"]
    list_filter = ["provider", "kind"]


@admin.register(ReminderRule)
class ReminderRuleAdmin(PracticeScopedAdmin):
    list_display = ["__str__", "kind", "channel", "is_active"]
    list_filter = ["channel", "kind", "is_active"]
