from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"
    verbose_name = "Shared documents"

    def ready(self) -> None:
        from documents.views import chart_section, home_section
        from telehealth.accounts import chart, home

        chart.register(chart_section)
        home.register(home_section, order=35)
