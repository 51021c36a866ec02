"""Django admin for practice configuration. Patient records are not edited here: they carry PHI
and live behind the audited staff pages. Every admin change is audited (see signals)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from telehealth.accounts.forms import AdminUserAddForm, AdminUserChangeForm
from telehealth.accounts.models import Practice, Provider, User, email_index


class PracticeScopedAdmin(admin.ModelAdmin):
    """A practice admin sees and writes only their own practice's rows; superusers see all.

    Rows with a `practice` column get the admin's practice on save (the field is hidden from
    them), and provider choices are limited to the practice's providers. A non-superuser
    with no practice gets 403: the rows belong to a practice, and one saved for nobody would
    fail."""

    practice_field = "practice"

    def _has_practice(self, request) -> bool:
        return request.user.is_superuser or request.user.practice_id is not None

    def has_module_permission(self, request):
        return self._has_practice(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._has_practice(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return self._has_practice(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return self._has_practice(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._has_practice(request) and super().has_delete_permission(request, obj)

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        return rows.filter(**{self.practice_field: request.user.practice_id})

    def _scopes_practice_column(self, request) -> bool:
        return not request.user.is_superuser and self.practice_field == "practice"

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if self._scopes_practice_column(request) and self.fieldsets is None:
            exclude.append("practice")
        return exclude

    def save_model(self, request, obj, form, change):
        if self._scopes_practice_column(request):
            obj.practice_id = request.user.practice_id
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "provider" and not request.user.is_superuser:
            kwargs["queryset"] = Provider.objects.filter(practice_id=request.user.practice_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "providers" and not request.user.is_superuser:
            kwargs["queryset"] = Provider.objects.filter(practice_id=request.user.practice_id)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(Practice)
class PracticeAdmin(PracticeScopedAdmin):
    practice_field = "pk"
    list_display = ["name", "slug", "time_zone", "phone"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Provider)
class ProviderAdmin(PracticeScopedAdmin):
    list_display = ["display_name", "specialty", "npi", "time_zone", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["display_name", "npi"]
    raw_id_fields = ["user"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin, PracticeScopedAdmin):
    form = AdminUserChangeForm
    add_form = AdminUserAddForm
    # The email is encrypted: it cannot be sorted in SQL, and it is searched by exact match
    # through its blind index (get_search_results).
    ordering = ["full_name"]
    list_display = ["email", "full_name", "role", "practice", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Person", {"fields": ["full_name", "role", "practice"]}),
        ("Access", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "role", "practice", "password1", "password2"],
            },
        ),
    ]
    readonly_fields = ["last_login", "date_joined"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser or obj is None:
            return fieldsets
        # A practice admin manages people, never grants themselves platform-wide powers.
        return [
            (
                name,
                {
                    **opts,
                    "fields": [f for f in opts["fields"] if f not in ("is_superuser", "groups")],
                },
            )
            for name, opts in fieldsets
        ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if "@" in search_term:
            results |= queryset.filter(email_index=email_index(search_term))
        return results, may_have_duplicates
