from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        checks.register(sender_type_is_known)


def sender_type_is_known(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A misspelt SMS_SENDER_TYPE would leave the drain-time table without its row."""
    from analytics.senders import SENDERS

    if settings.SMS_SENDER_TYPE in SENDERS:
        return []
    return [
        checks.Error(
            f"SMS_SENDER_TYPE {settings.SMS_SENDER_TYPE!r} is not one of: {', '.join(SENDERS)}.",
            id="analytics.E001",
        )
    ]
