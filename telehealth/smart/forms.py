import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from telehealth.fhir import scopes as smart_scopes
from telehealth.smart.jwks import JwksError, parse_jwks
from telehealth.smart.models import SmartClient


class IndentedJSONField(forms.JSONField):
    """Shows the stored key set laid out, so an admin can read which keys are there."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2)


class SmartClientForm(forms.ModelForm):
    jwks = IndentedJSONField(
        label=capfirst(SmartClient._meta.get_field("jwks").verbose_name),
        help_text=SmartClient._meta.get_field("jwks").help_text,
        widget=forms.Textarea(
            attrs={"rows": 12, "class": "vLargeTextField", "spellcheck": "false"}
        ),
    )

    class Meta:
        model = SmartClient
        fields = ["practice", "name", "jwks", "scopes", "is_active"]
        widgets = {"scopes": forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"})}

    def clean_jwks(self) -> Any:
        value = self.cleaned_data["jwks"]
        try:
            parse_jwks(value)
        except JwksError as error:
            raise ValidationError(str(error)) from None
        return value

    def clean_scopes(self) -> str:
        texts = smart_scopes.split(self.cleaned_data["scopes"])
        unknown = [text for text in texts if smart_scopes.parse(text) is None]
        if unknown:
            raise ValidationError(
                _(
                    "Not a SMART system scope: %(scopes)s. Write system/<Type or *>.<letters "
                    "of cruds> (e.g. system/Patient.rs) or system/<Type or *>.read, .write or .*."
                )
                % {"scopes": ", ".join(unknown)}
            )
        if not texts:
            raise ValidationError(_("Allow the client at least one scope."))
        return " ".join(texts)
