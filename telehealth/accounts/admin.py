"""Django admin for practice configuration. Patient records are not edited here: they carry PHI
and live behind the audited staff pages. Every admin change is audited (see signals)."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import (
    AllValuesFieldListFilter,
    FieldListFilter,
    RelatedFieldListFilter,
    RelatedOnlyFieldListFilter,
)
from django.contrib.admin.utils import get_model_from_relation, reverse_field_path
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, ImproperlyConfigured, ValidationError
from django.db.models import ForeignKey, ManyToManyField, Model, Q, QuerySet
from django.db.models.fields.related import RelatedField
from django.forms import ModelChoiceField, ModelForm, ModelMultipleChoiceField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from telehealth.accounts import display
from telehealth.accounts.forms import (
    AdminUserAddForm,
    AdminUserChangeForm,
    PracticeAdminForm,
    ProviderAdminForm,
)
from telehealth.accounts.models import Practice, Provider, User, email_index
from telehealth.accounts.practice_scope import in_practice, practice_path


def confined_practice_id(request: HttpRequest) -> int | None:
    """The practice a non-superuser's admin request is confined to (None: no practice)."""
    user = request.user
    return user.practice_id if isinstance(user, User) else None


class PracticeRawIdWidget(ForeignKeyRawIdWidget):
    """Names the object behind a typed id only when the id is among `queryset`: an id of
    another practice's user stays a bare number instead of echoing their name and email."""

    def __init__(self, rel: Any, admin_site: admin.AdminSite, *, queryset: QuerySet, **kwargs):
        self.queryset = queryset
        super().__init__(rel, admin_site, **kwargs)

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        key = self.rel.get_related_field().name
        try:
            offered = self.queryset.filter(**{key: value}).exists()
        except (TypeError, ValueError, ValidationError):
            offered = False
        return super().label_and_url_for_value(value) if offered else ("", "")


class PracticeRelatedFieldListFilter(RelatedFieldListFilter):
    """Offers only the admin's practice's objects, not every row of the related table."""

    def choices_limit(self, field: Any, request: HttpRequest, model_admin: Any) -> Q:
        related = get_model_from_relation(field)
        own = in_practice(related._default_manager.all(), confined_practice_id(request))
        limit = Q(pk__in=own.values("pk"))
        if isinstance(field, RelatedField):
            declared = field.get_limit_choices_to()
            limit &= declared if isinstance(declared, Q) else Q(**declared)
        return limit

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        return field.get_choices(
            include_blank=False,
            ordering=self.field_admin_ordering(field, request, model_admin),
            limit_choices_to=self.choices_limit(field, request, model_admin),
        )


class PracticeRelatedOnlyFieldListFilter(PracticeRelatedFieldListFilter):
    def choices_limit(self, field: Any, request: HttpRequest, model_admin: Any) -> Q:
        used = model_admin.get_queryset(request).values_list(f"{self.field_path}__pk", flat=True)
        return super().choices_limit(field, request, model_admin) & Q(pk__in=used)


def practice_field_list_filter(
    field: Any,
    request: HttpRequest,
    params: dict,
    model: type[Model],
    model_admin: Any,
    field_path: str,
) -> FieldListFilter:
    """Django's choice of filter for the field, with its options confined to the practice."""
    if field.is_relation:
        return PracticeRelatedFieldListFilter(
            field, request, params, model, model_admin, field_path=field_path
        )
    spec = FieldListFilter.create(field, request, params, model, model_admin, field_path)
    parent_model, _ = reverse_field_path(model, field_path)
    if isinstance(spec, AllValuesFieldListFilter) and parent_model is not model:
        # Through a relation Django lists the values of every row of the related table.
        rows = in_practice(parent_model._default_manager.all(), confined_practice_id(request))
        spec.lookup_choices = (
            rows.distinct().order_by(field.name).values_list(field.name, flat=True)
        )
    return spec


def confined_list_filter(entry: Any) -> Any:
    """One `list_filter` entry, its related options confined to the admin's practice."""
    if isinstance(entry, str):
        return (entry, practice_field_list_filter)
    if not isinstance(entry, (list, tuple)):
        return entry  # a SimpleListFilter: its lookups() decide (the isolation test checks)
    path, filter_class = entry
    if filter_class in (RelatedFieldListFilter, AllValuesFieldListFilter):
        return (path, practice_field_list_filter)
    if filter_class is RelatedOnlyFieldListFilter:
        return (path, PracticeRelatedOnlyFieldListFilter)
    if isinstance(filter_class, type) and issubclass(filter_class, PracticeRelatedFieldListFilter):
        return entry
    if isinstance(filter_class, type) and issubclass(
        filter_class, (RelatedFieldListFilter, AllValuesFieldListFilter)
    ):
        raise ImproperlyConfigured(
            f"{filter_class.__name__} for {path!r} lists related rows of every practice; "
            "derive it from PracticeRelatedFieldListFilter."
        )
    return entry


def practice_checked_form(form: type[ModelForm], *, practice_id: int | None) -> type[ModelForm]:
    """`form` validating its row as saved for `practice_id` although the practice column is not
    on it: Django leaves constraints on a field missing from the form to the database, which
    answers a duplicate with an IntegrityError (a 500) instead of a form error."""

    class PracticeCheckedForm(form):  # type: ignore[valid-type,misc]
        def _post_clean(self) -> None:
            self.instance.practice_id = practice_id
            super()._post_clean()

        def _get_validation_exclusions(self) -> set[str]:
            exclude: set[str] = super()._get_validation_exclusions()
            exclude.discard("practice")
            return exclude

        def _update_errors(self, errors: ValidationError) -> None:
            # A clash on the hidden column concerns the row as a whole.
            if hasattr(errors, "error_dict") and "practice" in errors.error_dict:
                by_field = dict(errors.error_dict)
                moved = by_field.pop("practice")
                by_field[NON_FIELD_ERRORS] = [*by_field.get(NON_FIELD_ERRORS, []), *moved]
                errors = ValidationError(by_field)
            super()._update_errors(errors)

    PracticeCheckedForm.__name__ = form.__name__
    return PracticeCheckedForm


class PracticeScopedAdmin(admin.ModelAdmin):
    """A practice admin sees and writes only their own practice's rows; superusers see all.

    Rows with a `practice` column get the admin's practice on save (the field is hidden from
    them). Every foreign-key, many-to-many and raw-id field and every list filter offers and
    accepts only the practice's objects, found through `practice_path` of the related model,
    so a new field needs no code here. A non-superuser with no practice gets 403: the rows
    belong to a practice, and one saved for nobody would fail."""

    # The lookup from this admin's model to its practice; derived from the model when None.
    practice_field: str | None = None

    def _has_practice(self, request: HttpRequest) -> bool:
        user = request.user
        return isinstance(user, User) and (user.is_superuser or user.practice_id is not None)

    def _confines(self, request: HttpRequest) -> bool:
        return not request.user.is_superuser

    def _practice_lookup(self) -> str:
        model: type[Model] = self.model
        return self.practice_field or practice_path(model)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._has_practice(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_practice(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._has_practice(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_practice(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has_practice(request) and super().has_delete_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        rows = super().get_queryset(request)
        if not self._confines(request):
            return rows
        practice_id = confined_practice_id(request)
        if practice_id is None:
            return rows.none()
        return rows.filter(**{self._practice_lookup(): practice_id})

    def _scopes_practice_column(self, request: HttpRequest) -> bool:
        return self._confines(request) and self._practice_lookup() == "practice"

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if self._scopes_practice_column(request) and self.fieldsets is None:
            exclude.append("practice")
        return exclude

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any
    ) -> type[ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        if not self._scopes_practice_column(request) or "practice" in form.base_fields:
            return form
        return practice_checked_form(form, practice_id=confined_practice_id(request))

    def save_model(self, request, obj, form, change):
        if self._scopes_practice_column(request):
            obj.practice_id = confined_practice_id(request)
        super().save_model(request, obj, form, change)

    def get_list_filter(self, request: HttpRequest) -> Any:
        list_filter = super().get_list_filter(request)
        if not self._confines(request):
            return list_filter
        return [confined_list_filter(entry) for entry in list_filter]

    def _offered(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> QuerySet:
        """What a relational field may offer: what the admin chose, within the practice."""
        using = kwargs.get("using")
        queryset = kwargs.get("queryset")
        if queryset is None:
            queryset = self.get_field_queryset(using, db_field, request)
        if queryset is None:
            queryset = db_field.remote_field.model._default_manager.using(using)
        return in_practice(queryset, confined_practice_id(request))

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if self._confines(request):
            kwargs["queryset"] = self._offered(db_field, request, kwargs)
            raw_id = db_field.name in self.raw_id_fields
            autocomplete = db_field.name in self.get_autocomplete_fields(request)
            if raw_id and not autocomplete and "widget" not in kwargs:
                kwargs["widget"] = PracticeRawIdWidget(
                    db_field.remote_field,
                    self.admin_site,
                    queryset=kwargs["queryset"],
                    using=kwargs.get("using"),
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField, request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField | None:
        # A custom through model gets no field at all (Django's rule), so nothing to confine.
        through = db_field.remote_field.through
        if self._confines(request) and through is not None and through._meta.auto_created:
            kwargs["queryset"] = self._offered(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class SuperuserOnlyAdmin(admin.ModelAdmin):
    """For models whose rows belong to no single practice (groups, second-factor devices,
    lockout records, the audit trail): only superusers reach them, whatever permissions a
    practice admin holds."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


def restrict_unscoped_admins(site: admin.AdminSite) -> None:
    """Make every registered admin that is not practice-scoped superuser-only, including
    those of installed packages (auth groups, OTP devices, axes logs)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, (PracticeScopedAdmin, SuperuserOnlyAdmin)):
            continue
        admin_class = type(model_admin)
        restricted = type(admin_class.__name__, (SuperuserOnlyAdmin, admin_class), {})
        restricted.__module__ = admin_class.__module__
        site.unregister(model)
        site.register(model, restricted)


@admin.display(description=_("Time zone"), ordering="time_zone")
def time_zone_label(obj: Practice | Provider) -> str:
    return display.zone_label(obj.time_zone)


@admin.register(Practice)
class PracticeAdmin(PracticeScopedAdmin):
    practice_field = "pk"
    form = PracticeAdminForm
    list_display = ["name", "slug", "country", time_zone_label, "phone_display"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description=_("Phone"), ordering="phone")
    def phone_display(self, obj: Practice) -> str:
        return display.format_phone(obj.phone, region=obj.country)


@admin.register(Provider)
class ProviderAdmin(PracticeScopedAdmin):
    form = ProviderAdminForm
    list_display = ["display_name", "specialty", "npi", time_zone_label, "is_active"]
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        users = super().get_queryset(request)
        if request.user.is_superuser:
            return users
        # A practice admin must never reset the password of, or deactivate, a platform
        # superuser who happens to belong to their practice.
        return users.exclude(is_superuser=True)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if "@" in search_term:
            results |= queryset.filter(email_index=email_index(search_term))
        return results, may_have_duplicates
