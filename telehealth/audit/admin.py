from django.contrib import admin

from telehealth.accounts.admin import SuperuserOnlyAdmin
from telehealth.audit.models import AuditEvent, AuditSubject


class AuditSubjectInline(admin.TabularInline):
    """The records an event about several records listed."""

    model = AuditSubject
    fields = readonly_fields = ("object_type", "object_id", "patient")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(SuperuserOnlyAdmin):
    """Read-only: the trail is append-only. Superusers only: a practice admin reads their
    practice's trail on the audited staff pages."""

    list_display = [
        "occurred_at",
        "chain",
        "actor_label",
        "role",
        "action",
        "object_type",
        "object_id",
    ]
    list_filter = ["action", "role"]
    inlines = [AuditSubjectInline]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
