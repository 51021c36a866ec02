from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirImportConfig(AppConfig):
    name = "telehealth.fhir_import"
    label = "fhir_import"
    verbose_name = _("FHIR import")
