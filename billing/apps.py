from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import fhir_api
        from billing.views.worklists import rpm_patient_panel
        from rpm import panels

        panels.register(rpm_patient_panel)
        fhir_api.register()  # Claim in the FHIR API
