from django.apps import AppConfig


class RpmConfig(AppConfig):
    name = "rpm"
    verbose_name = "Remote monitoring"
