from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirSubscriptionsConfig(AppConfig):
    name = "telehealth.fhir_subscriptions"
    label = "fhir_subscriptions"
    verbose_name = _("FHIR change notifications")
