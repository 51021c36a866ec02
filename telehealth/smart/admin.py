"""Registering SMART backend clients: a practice admin's setting, confined to their practice
like the others (telehealth.accounts.admin.PracticeScopedAdmin)."""

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.admin import PracticeScopedAdmin, confined_practice_id
from telehealth.smart import services
from telehealth.smart.forms import SmartClientForm
from telehealth.smart.models import SmartClient


@admin.register(SmartClient)
class SmartClientAdmin(PracticeScopedAdmin):
    form = SmartClientForm
    list_display = ["name", "client_id", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["client_id", "token_endpoint"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("application")

    def get_fields(self, request, obj=None):
        fields = ["name", "jwks", "scopes", "is_active"]
        if obj is not None:
            fields[1:1] = ["client_id", "token_endpoint"]
        if not self._scopes_practice_column(request):
            fields.insert(0, "practice")
        return fields

    @admin.display(description=_("Client ID"))
    def client_id(self, obj: SmartClient) -> str:
        return obj.application.client_id

    @admin.display(description=_("Token endpoint"))
    def token_endpoint(self, obj: SmartClient) -> str:
        return settings.SITE_URL + reverse("smart:token")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deactivate instead: the audit trail and issued tokens name the client

    def save_model(self, request, obj, form, change):
        if self._scopes_practice_column(request):
            obj.practice_id = confined_practice_id(request)
        if change:
            services.smart_client_update(client=obj, by=request.user)
        else:
            services.smart_client_register(client=obj, by=request.user)
