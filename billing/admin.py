"""The practice's billing set-up. Encounters are worked in billing's own pages, where every
read is audited, not here."""

from django.contrib import admin

from billing.models import BillingProfile, FeeScheduleEntry, Payer
from telehealth.accounts.admin import PracticeScopedAdmin


@admin.register(BillingProfile)
class BillingProfileAdmin(PracticeScopedAdmin):
    list_display = ["billing_name", "group_npi", "taxonomy", "receiver_name"]


@admin.register(Payer)
class PayerAdmin(PracticeScopedAdmin):
    list_display = ["name", "payer_id", "profile_kind", "profile_state", "profile_variant"]
    list_filter = ["profile_kind"]
    search_fields = ["name", "payer_id"]


@admin.register(FeeScheduleEntry)
class FeeScheduleEntryAdmin(PracticeScopedAdmin):
    list_display = ["code", "charge", "effective_from"]
    list_filter = ["effective_from"]
    search_fields = ["code"]
