from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "telehealth.accounts"
    label = "accounts"
    verbose_name = "Accounts and practices"

    def ready(self) -> None:
        from telehealth import lookups  # noqa: F401  (range-safe `__in` on integer columns)
        from telehealth.accounts import signals  # noqa: F401  (connects the login receivers)
