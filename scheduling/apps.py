from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from scheduling import fhir_api, inbound, links, reminders, slot_cache
        from scheduling.views import home_section
        from telehealth.accounts import home
        from telehealth.notify import services as notify
        from telehealth.notify.inbound import register

        register("scheduling", inbound.handle)
        links.register()
        home.register(home_section)
        fhir_api.register()
        notify.send_time_source_register("scheduling.Appointment", reminders.send_time_context)
        slot_cache.connect()
