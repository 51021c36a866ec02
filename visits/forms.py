from django import forms
from django.utils.translation import gettext_lazy as _

from scheduling.forms import state_select_choices
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


PLACE_CHOICES = [("home", _("At home")), ("other", _("Somewhere else"))]


class LocationForm(forms.Form):
    """The waiting room's "Where are you right now?"."""

    state = forms.ChoiceField(
        label=_("State you are in now"),
        choices=state_select_choices,
        error_messages={
            "required": _("Choose the US state you are in right now."),
            "invalid_choice": _("Choose the US state you are in right now."),
        },
    )
    place = forms.ChoiceField(
        label=_("Are you at home or somewhere else?"),
        choices=PLACE_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Say whether you are at home or somewhere else."),
            "invalid_choice": _("Say whether you are at home or somewhere else."),
        },
    )

    @property
    def at_home(self) -> bool:
        return self.cleaned_data["place"] == "home"


# --- E-visits --------------------------------------------------------------------------------


class EVisitReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your answer"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )


class EVisitAskForm(forms.Form):
    body = forms.CharField(
        label=_("Question for the patient"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class EVisitTimeForm(forms.Form):
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=240)
    work_date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    activity = forms.CharField(
        label=_("What you did"),
        max_length=500,
        help_text=_("e.g. Reviewed history and photos; wrote the plan."),
    )


class EVisitCompleteForm(forms.Form):
    assessment = forms.CharField(
        label=_("Assessment"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    plan = forms.CharField(
        label=_("Plan"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    response = forms.CharField(
        label=_("Response to the patient"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("The patient reads this in the portal."),
    )


class EVisitEscalateForm(forms.Form):
    note = forms.CharField(
        label=_("Note to the patient"),
        max_length=2000,
        initial=_("This needs a live visit so I can examine you. Please book a time."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
