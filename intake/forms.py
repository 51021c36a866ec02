import re
from datetime import date
from typing import cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from intake.models import InsuranceCard
from intake.questionnaire import TYPES
from scheduling.models import AppointmentType
from telehealth.accounts.display import state_choices
from telehealth.accounts.models import Sex

IMAGE_ACCEPT = "image/*,application/pdf"


class InsuranceForm(forms.Form):
    payer = forms.CharField(label=_("Insurance company"), max_length=120)
    member_id = forms.CharField(label=_("Member ID"), max_length=40)
    group_number = forms.CharField(label=_("Group number"), max_length=40, required=False)
    subscriber_name = forms.CharField(label=_("Name of the policy holder"), max_length=120)
    relationship = forms.ChoiceField(
        label=_("Your relationship to the policy holder"),
        choices=InsuranceCard.Relationship.choices,
    )
    # Asked only when the patient is not the policy holder: the claim names the policy holder
    # with their own birth date, sex and address (static/js/insurance.js hides them for "self").
    subscriber_birth_date = forms.DateField(
        label=_("Policy holder's date of birth"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    subscriber_sex = forms.ChoiceField(
        label=_("Policy holder's sex, as on the insurance record"),
        required=False,
        choices=[("", "—"), *[(s.value, s.label) for s in Sex if s != Sex.OTHER]],
    )
    subscriber_line1 = forms.CharField(
        label=_("Policy holder's street address"),
        max_length=55,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    subscriber_line2 = forms.CharField(
        label=_("Apartment, suite or unit (optional)"), max_length=55, required=False
    )
    subscriber_city = forms.CharField(label=_("City"), max_length=30, required=False)
    subscriber_state = forms.ChoiceField(label=_("State"), required=False, choices=())
    subscriber_postal_code = forms.CharField(
        label=_("ZIP code"),
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    front = forms.FileField(
        label=_("Front of the card"),
        help_text=_("A photo or a PDF, up to 10 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT, "capture": "environment"}),
    )
    back = forms.FileField(
        label=_("Back of the card"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_ACCEPT, "capture": "environment"}),
    )

    SUBSCRIBER_FIELDS = (
        "subscriber_birth_date",
        "subscriber_sex",
        "subscriber_line1",
        "subscriber_line2",
        "subscriber_city",
        "subscriber_state",
        "subscriber_postal_code",
    )
    REQUIRED_FOR_OTHERS = {
        "subscriber_birth_date": _("Enter the policy holder's date of birth."),
        "subscriber_sex": _("Choose the policy holder's sex."),
        "subscriber_line1": _("Enter the policy holder's street address."),
        "subscriber_city": _("Enter the policy holder's city."),
        "subscriber_state": _("Choose the policy holder's state."),
        "subscriber_postal_code": _("Enter the policy holder's ZIP code."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["subscriber_state"])
        field.choices = [("", "—"), *state_choices()]
        for name in self.SUBSCRIBER_FIELDS:
            self.fields[name].widget.attrs["data-subscriber-field"] = ""

    def clean_subscriber_birth_date(self) -> date | None:
        born = self.cleaned_data.get("subscriber_birth_date")
        if born is not None and born > timezone.localdate():
            raise forms.ValidationError(_("The date of birth cannot be in the future."))
        return born

    def clean_subscriber_postal_code(self) -> str:
        value = self.cleaned_data.get("subscriber_postal_code", "").strip()
        if value and not re.fullmatch(r"[0-9]{5}(-?[0-9]{4})?", value):
            raise forms.ValidationError(_("Enter a ZIP code of 5 digits, or 5+4 digits."))
        return value.replace("-", "")

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("relationship") == InsuranceCard.Relationship.SELF:
            # The patient's own record describes the policy holder; ignore anything typed.
            for name in self.SUBSCRIBER_FIELDS:
                cleaned[name] = None if name == "subscriber_birth_date" else ""
            return cleaned
        for name, message in self.REQUIRED_FOR_OTHERS.items():
            if not cleaned.get(name) and name not in self.errors:
                self.add_error(name, message)
        return cleaned

    def subscriber_details(self) -> dict:
        """The policy holder's details as the card keeps them (empty for "self")."""
        data = self.cleaned_data
        born = data.get("subscriber_birth_date")
        if data.get("relationship") == InsuranceCard.Relationship.SELF:
            return {"birth_date": None, "sex": "", "address": {}}
        return {
            "birth_date": born,
            "sex": data["subscriber_sex"],
            "address": {
                "line1": data["subscriber_line1"].strip(),
                "line2": data["subscriber_line2"].strip(),
                "city": data["subscriber_city"].strip(),
                "state": data["subscriber_state"],
                "postal_code": data["subscriber_postal_code"],
            },
        }


class SignForm(forms.Form):
    signer_name = forms.CharField(
        label=_("Type your full name"),
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    drawing = forms.CharField(required=False, widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label=_("I have read this consent and agree to it."),
        error_messages={"required": _("Tick the box to show that you agree.")},
    )


class NewFormForm(forms.Form):
    title = forms.CharField(label=_("Form title"), max_length=120)


class FormSettingsForm(forms.Form):
    """The editor's "when patients are asked" panel: the practice's visit types that ask for
    the form, and whether it is in use. Ids that are not the practice's types are refused."""

    appointment_types = forms.ModelMultipleChoiceField(
        queryset=AppointmentType.objects.none(), required=False
    )
    is_active = forms.BooleanField(required=False)

    def __init__(self, *args, practice_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        types = cast(forms.ModelMultipleChoiceField, self.fields["appointment_types"])
        types.queryset = AppointmentType.objects.filter(practice_id=practice_id)

    def chosen_type_ids(self) -> set[int]:
        """The visit types to show ticked: as posted (well-formed ids only), else as saved."""
        return {int(v) for v in self["appointment_types"].value() or [] if str(v).isdecimal()}


ITEM_TYPES = [
    ("string", _("Short answer")),
    ("text", _("Long answer")),
    ("boolean", _("Yes or no")),
    ("choice", _("One choice")),
    ("open-choice", _("Choice or own answer")),
    ("integer", _("Whole number")),
    ("decimal", _("Number")),
    ("date", _("Date")),
    ("display", _("Text to read (no answer)")),
    ("group", _("Section heading")),
]
assert {value for value, _ in ITEM_TYPES} <= TYPES


class ItemForm(forms.Form):
    """One question in the form editor. Items after a section heading belong to it."""

    # Dotted ids too: the built-in medical history's items are "conditions.list" and so on.
    link_id = forms.RegexField(label=_("Id"), regex=r"^[-\w.]+$", max_length=40, required=False)
    text = forms.CharField(label=_("Question or text"), max_length=500)
    type = forms.ChoiceField(label=_("Kind"), choices=ITEM_TYPES)
    required = forms.BooleanField(label=_("Required"), required=False)
    repeats = forms.BooleanField(label=_("Several answers"), required=False)
    options = forms.CharField(
        label=_("Options, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    show_if_question = forms.CharField(
        label=_("Show only if the answer to (id)"), max_length=40, required=False
    )
    show_if_answer = forms.CharField(label=_("is"), max_length=120, required=False)


ItemFormSet = forms.formset_factory(ItemForm, extra=1, can_delete=True, can_order=True)
