from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "intake"
    verbose_name = "Intake"

    def ready(self) -> None:
        from intake import links
        from intake.views import chart_section
        from telehealth.accounts import chart

        chart.register(chart_section)
        links.register()
