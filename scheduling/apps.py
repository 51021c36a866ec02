from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from scheduling import inbound, links
        from telehealth.notify.inbound import register

        register("scheduling", inbound.handle)
        links.register()
