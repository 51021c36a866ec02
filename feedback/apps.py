from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Patient feedback"

    def ready(self) -> None:
        from feedback import links, messages
        from feedback.views import home_section
        from telehealth.accounts import home

        links.register()
        messages.register()
        home.register(home_section, order=60)
