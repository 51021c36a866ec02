from django import forms
from django.utils.translation import gettext_lazy as _

from telehealth.fhir.imports import MAX_BYTES


class ImportFileForm(forms.Form):
    file = forms.FileField(
        label=_("FHIR file"),
        help_text=_(
            "A Bundle (JSON) or NDJSON of Patient and Appointment resources, at most 2 MB."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        return upload
