from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmartConfig(AppConfig):
    name = "telehealth.smart"
    label = "smart"
    verbose_name = _("SMART on FHIR clients")

    def ready(self) -> None:
        from telehealth.fhir import auth
        from telehealth.smart.bearer import verify_bearer

        # The FHIR API accepts this app's access tokens (telehealth.fhir imports no app).
        auth.register(auth.BearerAuthority(verify=verify_bearer, token_url_name="smart:token"))
