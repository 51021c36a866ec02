"""SMART on FHIR backend services: the systems a practice lets call its FHIR API.

A client is registered by a practice admin with its public keys (JWKS). It authenticates at the
token endpoint with a JWT signed by one of them (RFC 7523, SMART Backend Services) and acts on
the FHIR API as its own service user, who belongs to the practice and cannot sign in."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application

from telehealth.accounts.models import Practice


class SmartClient(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="smart_clients")
    name = models.CharField(_("name"), max_length=200)
    jwks = models.JSONField(
        _("public keys (JWKS)"),
        help_text=_(
            "The client's JSON Web Key Set: its public RS384 or ES384 signing keys, each with "
            "a kid. Never paste a private key."
        ),
    )
    scopes = models.TextField(
        _("allowed scopes"),
        help_text=_(
            "Space-separated SMART system scopes the client may be granted, e.g. "
            "system/Patient.rs system/Observation.rs (or system/*.read)."
        ),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("An inactive client gets no tokens.")
    )
    # The django-oauth-toolkit application behind the client: its client_id is the one the
    # client puts in its assertions, its tokens are the ones issued at the token endpoint.
    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="smart_client", editable=False
    )
    # Whom the FHIR API serves the client's requests as (the practice's data, never a sign-in).
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="smart_client",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("SMART backend client")
        verbose_name_plural = _("SMART backend clients")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "name"], name="smart_client_name_unique_in_practice"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def client_id(self) -> str:
        return self.application.client_id


class AssertionJti(models.Model):
    """The `jti` of every client assertion accepted, kept until the assertion expires: an
    assertion is good once (RFC 7523 section 3)."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="smart_assertion_jti_once")
        ]

    def __str__(self) -> str:
        return f"assertion {self.jti} of client #{self.client_id}"
