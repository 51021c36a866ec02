from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "telehealth.fhir"
    label = "fhir"
