from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from intake.models import InsuranceCard
from intake.questionnaire import TYPES
from scheduling.models import AppointmentType

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
