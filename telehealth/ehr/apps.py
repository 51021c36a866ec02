from django.apps import AppConfig


class EhrConfig(AppConfig):
    name = "telehealth.ehr"
    label = "ehr"
    verbose_name = "EHR launch"
