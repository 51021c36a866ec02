from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Video visits"

    def ready(self) -> None:
        from telehealth.accounts import chart
        from visits import links
        from visits.views import chart_section

        chart.register(chart_section)
        links.register()
