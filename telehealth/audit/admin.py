from django.contrib import admin

from telehealth.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only."""

    list_display = ["occurred_at", "actor_label", "role", "action", "object_type", "object_id"]
    list_filter = ["action", "role"]
    date_hierarchy = "occurred_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        events = super().get_queryset(request)
        return events if request.user.is_superuser else events.none()
