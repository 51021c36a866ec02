from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        from intake import fhir_api, links
        from intake.views import chart_section, confirmation_section
        from scheduling import confirmation
        from telehealth.accounts import chart

        chart.register(chart_section)
        confirmation.register(confirmation_section)
        links.register()
        fhir_api.register()
