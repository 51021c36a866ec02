from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "telehealth.accounts"
    label = "accounts"
    verbose_name = "Accounts and practices"

    def ready(self) -> None:
        from django.contrib import admin

        from telehealth import (  # noqa: F401
            lookups,  # range-safe `__in` on integer columns
            prepared_statements,  # stale prepared statements planned again
        )
        from telehealth.accounts import (
            invitations,
            signals,  # noqa: F401  (connects the login receivers)
        )
        from telehealth.accounts.admin import restrict_unscoped_admins

        # django.contrib.admin comes first in INSTALLED_APPS, so its ready() has already
        # imported every app's admin module and the registry is complete here.
        restrict_unscoped_admins(admin.site)
        invitations.register()

        from telehealth.accounts import fhir

        fhir.register()  # Patient, Practitioner and Organization in the FHIR API
