from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import fhir_api
        from billing.views.worklists import rpm_patient_panel
        from rpm import panels

        panels.register(rpm_patient_panel)
        from billing.views.evisits import evisit_case_panel
        from visits import evisit_panels

        evisit_panels.register(evisit_case_panel)
        from billing.views.econsults import econsult_case_panel
        from visits import econsult_panels

        econsult_panels.register(econsult_case_panel)
        fhir_api.register()  # Claim in the FHIR API
