from django.contrib import admin

from messaging.models import MessagingSettings, Rule, SavedReply, Team
from telehealth.accounts.admin import PracticeScopedAdmin
from telehealth.accounts.models import Role, User


def _practice_staff(request):
    return User.objects.filter(practice_id=request.user.practice_id).exclude(role=Role.PATIENT)


class MessagingAdmin(PracticeScopedAdmin):
    """People and teams offered in these forms are the admin's own practice's staff."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            if db_field.name == "set_assignee":
                kwargs["queryset"] = _practice_staff(request)
            elif db_field.name == "set_team":
                kwargs["queryset"] = Team.objects.filter(practice_id=request.user.practice_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "members" and not request.user.is_superuser:
            kwargs["queryset"] = _practice_staff(request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Team)
class TeamAdmin(MessagingAdmin):
    list_display = ["name"]
    filter_horizontal = ["members"]


@admin.register(SavedReply)
class SavedReplyAdmin(MessagingAdmin):
    list_display = ["title"]
    search_fields = ["title"]


@admin.register(Rule)
class RuleAdmin(MessagingAdmin):
    list_display = ["name", "keywords", "set_category", "set_priority", "is_active", "position"]
    list_filter = ["is_active"]


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(MessagingAdmin):
    list_display = ["__str__", "after_hours_reply_on", "emergency_number"]
