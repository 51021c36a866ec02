from django import forms
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.forms import DateOfBirthForm  # noqa: F401  (the join link's check)


class NoteForm(forms.Form):
    subjective = forms.CharField(
        label=_("Subjective"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    objective = forms.CharField(
        label=_("Objective"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    assessment = forms.CharField(
        label=_("Assessment"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    plan = forms.CharField(
        label=_("Plan"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class AddendumForm(forms.Form):
    body = forms.CharField(
        label=_("Addendum"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The signed note stays as it is; the addendum is kept beside it, dated."),
    )
