from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "telehealth.accounts"
    label = "accounts"
    verbose_name = "Accounts and practices"

    def ready(self) -> None:
        from telehealth.accounts import signals  # noqa: F401  (connects the login receivers)
