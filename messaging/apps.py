from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import fhir_api, inbound
        from messaging.views import chart_section, home_section
        from telehealth.accounts import chart, home
        from telehealth.notify import inbound as notify_inbound

        notify_inbound.register("messaging", inbound.handle)
        chart.register(chart_section)
        home.register(home_section, order=30)
        fhir_api.register()  # Communication in the FHIR API
