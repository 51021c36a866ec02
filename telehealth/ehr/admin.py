"""Registering an EHR that may launch the visit room, per practice. The page shows the two
addresses the EHR's app registration asks for."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.admin import PracticeScopedAdmin
from telehealth.ehr import smart, views
from telehealth.ehr.models import EhrServer


class EhrServerForm(forms.ModelForm):
    # Write-only: the stored secret is never sent back to the browser; blank keeps it.
    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Only for a confidential client. Leave blank to keep the one stored."),
    )

    class Meta:
        model = EhrServer
        fields = [
            "name",
            "iss",
            "client_id",
            "confidential",
            "client_secret",
            "scopes",
            "patient_identifier_system",
            "is_active",
        ]
        widgets = {
            "iss": forms.TextInput(attrs={"class": "vURLField"}),
            "scopes": forms.TextInput(attrs={"class": "vURLField"}),
            "patient_identifier_system": forms.TextInput(attrs={"class": "vURLField"}),
        }

    def clean_iss(self) -> str:
        iss = smart.normalise_iss(self.cleaned_data["iss"])
        if not iss:
            raise forms.ValidationError(_("Enter the FHIR base URL, without query or fragment."))
        if not smart.origin_allowed(iss):
            raise forms.ValidationError(
                _(
                    "The FHIR base URL must be an https address on the public internet. An EHR "
                    "on a private network must first be allowed by the server's operator "
                    "(EHR_INSECURE_ORIGINS)."
                )
            )
        return iss

    def clean_scopes(self) -> str:
        scopes = " ".join(self.cleaned_data["scopes"].split())
        missing = {"launch", "openid", "fhirUser"} - set(scopes.split())
        if missing:
            raise forms.ValidationError(
                _("The scopes must include %(missing)s.") % {"missing": ", ".join(sorted(missing))}
            )
        return scopes

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        secret = cleaned.get("client_secret", "")
        if cleaned.get("confidential"):
            if secret:
                return cleaned
            if self.instance.pk and self.instance.client_secret:
                cleaned["client_secret"] = self.instance.client_secret
                return cleaned
            self.add_error("client_secret", _("A confidential client needs its client secret."))
        elif secret:
            self.add_error("client_secret", _("A public client has no secret: leave it blank."))
        else:
            cleaned["client_secret"] = ""
        return cleaned


@admin.register(EhrServer)
class EhrServerAdmin(PracticeScopedAdmin):
    form = EhrServerForm
    list_display = ["name", "iss", "client_id", "confidential", "is_active"]
    list_filter = ["is_active"]
    readonly_fields = ["launch_url", "redirect_uri"]

    def get_fields(self, request, obj=None):
        return [*EhrServerForm.Meta.fields, "launch_url", "redirect_uri"]

    @admin.display(description=_("Launch URL (give it to the EHR)"))
    def launch_url(self, obj: EhrServer | None) -> str:
        return format_html("<code>{}</code>", views.launch_url())

    @admin.display(description=_("Redirect URI (give it to the EHR)"))
    def redirect_uri(self, obj: EhrServer | None) -> str:
        return format_html("<code>{}</code>", views.redirect_uri())
