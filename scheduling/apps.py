from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from scheduling import fhir_api, inbound, links, slot_cache
        from scheduling.views import home_section
        from telehealth.accounts import home
        from telehealth.notify.inbound import register

        register("scheduling", inbound.handle)
        links.register()
        home.register(home_section)
        fhir_api.register()
        slot_cache.connect()
