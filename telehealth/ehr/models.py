"""EHRs that may launch our visit room (SMART on FHIR EHR launch): in that exchange the EHR is
the authorization server and we are the SMART app, registered there under a client id."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Practice
from telehealth.crypto.fields import EncryptedTextField

DEFAULT_SCOPES = "launch openid fhirUser patient/Patient.read patient/Encounter.read"


class EhrServer(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="ehr_servers")
    name = models.CharField(_("name"), max_length=120, help_text=_("e.g. Epic sandbox"))
    # Compared exactly with the `iss` of each launch, after telehealth.ehr.smart.normalise_iss.
    iss = models.CharField(
        _("FHIR base URL (iss)"),
        max_length=500,
        help_text=_("The FHIR base URL the EHR sends as iss when it launches the app."),
    )
    client_id = models.CharField(
        _("client id"), max_length=200, help_text=_("The id the EHR gave this app.")
    )
    confidential = models.BooleanField(
        _("confidential client"),
        default=False,
        help_text=_(
            "On: the EHR issued a client secret as well. Off: a public client, protected by "
            "PKCE alone."
        ),
    )
    client_secret = EncryptedTextField(_("client secret"), blank=True)
    scopes = models.CharField(_("scopes"), max_length=500, default=DEFAULT_SCOPES)
    # Where the EHR keeps our record number (telehealth.accounts.fhir.patient_system when
    # blank): its Patient resources must carry an identifier of this system valued with our id.
    patient_identifier_system = models.CharField(
        _("patient identifier system"),
        max_length=300,
        blank=True,
        help_text=_(
            "The identifier system under which the EHR stores this practice's record number. "
            "Leave blank for this practice's own system."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("EHR registration")
        verbose_name_plural = _("EHR registrations")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "iss"], name="ehr_server_practice_iss"),
        ]

    def __str__(self) -> str:
        return self.name
