from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from messaging.attachments import MAX_FILES
from messaging.models import Category, Thread
from telehealth.accounts.validation import normalise_phone
from telehealth.notify import wording


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_FILES:
            raise forms.ValidationError(_("Attach up to 5 files."))
        return [super(AttachmentsField, self).clean(f, initial) for f in files]


def attachments_field():
    return AttachmentsField(
        label=_("Attach photos or PDF files"),
        required=False,
        help_text=_("Up to 5 files, 10 MB each."),
        widget=MultipleFileInput(attrs={"accept": "image/*,application/pdf"}),
    )


class NewThreadForm(forms.Form):
    category = forms.ChoiceField(label=_("What is it about?"), choices=Category.choices)
    subject = forms.CharField(label=_("Subject"), max_length=150)
    body = forms.CharField(
        label=_("Message"), max_length=5000, widget=forms.Textarea(attrs={"rows": 6})
    )
    attachments = attachments_field()


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Reply"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    internal = forms.BooleanField(
        label=_("Internal note (never shown to the patient)"), required=False
    )
    attachments = attachments_field()

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not (data.get("body") or "").strip() and not data.get("attachments"):
            raise forms.ValidationError(_("Write a message or attach a file."))
        return data


class StaffThreadForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    subject = forms.CharField(label=_("Subject"), max_length=150)
    body = forms.CharField(
        label=_("Message"), max_length=5000, widget=forms.Textarea(attrs={"rows": 6})
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Thread.Status.choices)


class BulkForm(forms.Form):
    provider: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Patients of"), queryset=None, required=False, empty_label=_("Every provider")
    )
    visit_from = forms.DateField(
        label=_("With a visit from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    visit_to = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.ChoiceField(
        label=_("Send by"), choices=[("sms", _("Text message")), ("email", _("Email"))]
    )
    body = forms.CharField(
        label=_("Message"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("You can use {patient_first_name} and {practice_phone}."),
    )

    def clean_body(self):
        body = self.cleaned_data["body"]
        try:
            wording.validate_template(channel=wording.EMAIL, subject="", body=body)
        except wording.TemplateError as error:
            raise forms.ValidationError(str(error)) from error
        return body

    def __init__(self, *args, providers=None, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["provider"]).queryset = providers

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if (
            data.get("visit_from")
            and data.get("visit_to")
            and data["visit_to"] < data["visit_from"]
        ):
            raise forms.ValidationError(_("The end date comes before the start date."))
        return data


class WebChatForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=120)
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
        help_text=_("So we can find your record."),
    )
    phone = forms.CharField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    body = forms.CharField(
        label=_("How can we help?"), max_length=1000, widget=forms.Textarea(attrs={"rows": 4})
    )
    consent = forms.BooleanField(
        label=_("I agree to receive text messages from this practice about my care."),
        error_messages={"required": _("We answer by text, so we need your agreement.")},
    )

    def __init__(self, *args, country: str = "US", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.country = country  # the practice's: numbers without a country code are its own

    def clean_phone(self):
        return normalise_phone(self.cleaned_data["phone"], self.country)
