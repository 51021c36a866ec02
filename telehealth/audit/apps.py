from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "telehealth.audit"
    label = "audit"
    verbose_name = "Audit trail"
