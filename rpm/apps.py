from django.apps import AppConfig


class RpmConfig(AppConfig):
    name = "rpm"
    verbose_name = "Remote monitoring"

    def ready(self) -> None:
        from rpm import fhir_api
        from rpm.views import chart_section, home_section
        from telehealth.accounts import chart, home

        chart.register(chart_section)
        home.register(home_section, order=20)
        fhir_api.register()  # Observation in the FHIR API
