from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "telehealth.notify"
    label = "notify"
