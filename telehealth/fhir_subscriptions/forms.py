from django import forms
from django.utils.translation import gettext_lazy as _

from telehealth.fhir_subscriptions.topics import topic_choices


class SubscriptionForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120, help_text=_("Which system this is, for your staff.")
    )
    endpoint = forms.URLField(
        label=_("Endpoint URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where we POST notifications: an https address on the public internet."),
    )
    topics = forms.MultipleChoiceField(
        label=_("Notify about"),
        choices=topic_choices,
        widget=forms.CheckboxSelectMultiple,
    )
