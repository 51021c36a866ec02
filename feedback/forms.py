from urllib.parse import urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

RATINGS = [
    (5, _("5 – Very good")),
    (4, _("4 – Good")),
    (3, _("3 – Fair")),
    (2, _("2 – Poor")),
    (1, _("1 – Very poor")),
]
EASE = [
    (5, _("5 – Very easy")),
    (4, _("4 – Easy")),
    (3, _("3 – Neither easy nor hard")),
    (2, _("2 – Hard")),
    (1, _("1 – Very hard")),
]


class SurveyForm(forms.Form):
    satisfaction = forms.TypedChoiceField(
        label=_("How satisfied are you with your visit?"),
        choices=RATINGS,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how satisfied you are, from 1 to 5.")},
    )
    ease = forms.TypedChoiceField(
        label=_("How easy was it to join the video visit?"),
        choices=EASE,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how easy joining was, from 1 to 5.")},
    )
    comment = forms.CharField(
        label=_("Anything you would like to tell us? (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Please do not use this for medical questions; message your care team."),
    )
    no_review_requests = forms.BooleanField(
        label=_("Don't ask me to write public reviews"), required=False
    )


class SettingsForm(forms.Form):
    review_url = forms.URLField(
        label=_("Public review page"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("The https address of your page on Google, Yelp or similar."),
    )
    invite_reviews = forms.BooleanField(
        label=_("Invite patients who rate their visit 4 or 5 to leave a review"), required=False
    )
    review_interval_days = forms.IntegerField(
        label=_("Days between two review requests to the same patient"),
        min_value=30,
        max_value=3650,
        initial=365,
    )

    def clean_review_url(self) -> str:
        url = self.cleaned_data["review_url"]
        if url and urlsplit(url).scheme != "https":
            raise forms.ValidationError(_("Use an https:// address."))
        return url

    def clean(self):
        data = super().clean() or {}
        if data.get("invite_reviews") and not data.get("review_url"):
            raise forms.ValidationError(_("Set the public review page before inviting reviews."))
        return data
