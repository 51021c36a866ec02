from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Video visits"

    def ready(self) -> None:
        from telehealth.accounts import chart, home
        from telehealth.ehr import landing
        from visits import fhir_api, group_messages, links
        from visits.ehr_landing import launch_room
        from visits.views import chart_section, home_section

        chart.register(chart_section)
        home.register(home_section, order=10)
        links.register()
        landing.register(launch_room)
        fhir_api.register()  # Encounter in the FHIR API
        group_messages.register()  # places and reminders, rendered when sent
