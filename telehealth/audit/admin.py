from django.contrib import admin

from telehealth.accounts.admin import SuperuserOnlyAdmin
from telehealth.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(SuperuserOnlyAdmin):
    """Read-only: the trail is append-only. Superusers only: a practice admin reads their
    practice's trail on the audited staff pages."""

    list_display = ["occurred_at", "actor_label", "role", "action", "object_type", "object_id"]
    list_filter = ["action", "role"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
