from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.display import state_choices
from telehealth.accounts.validation import normalise_phone


def state_select_choices() -> list[tuple[str, str]]:
    """Called per form so the names are in, and sorted by, the visitor's language."""
    return [("", str(_("Choose your state"))), *state_choices()]


PREFERENCE_CHOICES = [
    ("", _("Any time")),
    ("morning", _("Mornings")),
    ("afternoon", _("Afternoons")),
    ("evening", _("Evenings")),
]


class BookingDetailsForm(forms.Form):
    legal_name = forms.CharField(
        label=_("Full legal name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
        error_messages={"invalid": _("Enter your date of birth, for example 1984-03-12.")},
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    state = forms.ChoiceField(
        label=_("State where you will be during the visit"), choices=state_select_choices
    )
    reason = forms.CharField(
        label=_("Reason for the visit"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    sms_consent = forms.BooleanField(
        label=_(
            "Text me confirmations and reminders. Message and data rates may apply; "
            "reply STOP to opt out."
        ),
        required=False,
    )

    def __init__(self, *args, country: str = "US", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.country = country  # the practice's: numbers without a country code are its own

    def clean_date_of_birth(self) -> date:
        born = self.cleaned_data["date_of_birth"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(_("A date of birth cannot be in the future."))
        if born.year < today.year - 120:
            raise forms.ValidationError(_("Check the year of your date of birth."))
        return born

    def clean_phone(self) -> str:
        return normalise_phone(self.cleaned_data["phone"], self.country)


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling (optional)"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SlotChoiceForm(forms.Form):
    start = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"])
    provider = forms.IntegerField(min_value=1)


class WaitlistForm(forms.Form):
    latest = forms.DateField(
        label=_("I could come any time before"), widget=forms.DateInput(attrs={"type": "date"})
    )
