from django import forms
from django.utils.translation import gettext_lazy as _

from scheduling.forms import state_select_choices
from telehealth.accounts.forms import DateOfBirthForm  # noqa: F401  (the join link's check)
from visits.models import ConsultSpecialist


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


# --- E-consults ------------------------------------------------------------------------------


class ConsultSpecialistForm(forms.Form):
    specialty = forms.CharField(
        label=_("Your specialty"),
        max_length=80,
        help_text=_("As colleagues will see it when they choose whom to ask, e.g. Dermatology."),
    )
    accepting = forms.BooleanField(
        label=_("I accept e-consults from the clinicians of my practice"), required=False
    )


class SpecialistChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.user.full_name} · {obj.specialty}"


class EConsultNewForm(forms.Form):
    specialist = SpecialistChoiceField(
        label=_("Specialist"),
        queryset=ConsultSpecialist.objects.none(),
        empty_label=_("Choose a specialist"),
    )
    question = forms.CharField(
        label=_("Your question"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("The clinical question, what you have tried and what you need to know."),
    )
    records = forms.MultipleChoiceField(
        label=_("Records to include"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The specialist reads copies of these as they are now, not the chart."),
    )
    patient_consented = forms.BooleanField(
        label=_("The patient agreed to this e-consult"),
        help_text=_("Ask them first and say it may be billed to their insurance."),
        error_messages={"required": _("Note that the patient agreed before sending.")},
    )

    def __init__(self, *args, specialists, offers, **kwargs):
        super().__init__(*args, **kwargs)
        specialist = self.fields["specialist"]
        assert isinstance(specialist, SpecialistChoiceField)
        specialist.queryset = specialists
        records = self.fields["records"]
        assert isinstance(records, forms.MultipleChoiceField)
        records.choices = [(offer.key, offer.label) for offer in offers]


class EConsultAskForm(forms.Form):
    body = forms.CharField(
        label=_("Question for the requesting clinician"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class EConsultReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your reply to the specialist"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class EConsultDeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Why you decline (the requesting clinician reads it)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class EConsultWithdrawForm(forms.Form):
    """Nothing to fill in: the button is the decision."""


class EConsultAnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Your answer"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Your written report: assessment and recommendations."),
    )
    verbal_report = forms.BooleanField(
        label=_("I also discussed it with the requesting clinician by phone or video"),
        required=False,
    )


class EConsultTimeForm(forms.Form):
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=240)
    work_date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    activity = forms.CharField(
        label=_("What you did"),
        max_length=500,
        help_text=_("e.g. Reviewed the readings; wrote the answer."),
    )
    discussion = forms.BooleanField(
        label=_("This was discussion with the requesting clinician, not review of records"),
        required=False,
    )

    def __init__(self, *args, specialist: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not specialist:
            del self.fields["discussion"]


class ClinicianChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.full_name


class CliniciansChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.full_name


class PatientsChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.legal_name} ({obj.date_of_birth:%Y-%m-%d})"


class GroupSessionForm(forms.Form):
    """Staff schedule a group session: who hosts, when, how many patients at once, and whom
    to invite (patients of the practice)."""

    title = forms.CharField(label=_("Title"), max_length=120)
    host = ClinicianChoiceField(label=_("Host"), queryset=None, empty_label=None)
    co_hosts = CliniciansChoiceField(
        label=_("Co-hosts"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    starts_at = forms.DateTimeField(
        label=_("Starts"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=_("Ends"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    capacity = forms.IntegerField(
        label=_("Patients at once"),
        min_value=1,
        max_value=50,
        initial=8,
        help_text=_("Up to 50. Hosts and co-hosts are not counted."),
    )
    open_for_booking = forms.BooleanField(
        label=_("Patients may book a place"),
        required=False,
        help_text=_(
            "Patients of the practice see this session in their portal and book a place "
            "themselves while fewer than the patients at once are invited or booked."
        ),
    )
    modality = forms.ChoiceField(label=_("Kind"), choices=[])
    patients = PatientsChoiceField(
        label=_("Invite patients"),
        queryset=None,
        required=False,
        help_text=_("Hold Ctrl (or Cmd) to choose several."),
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )

    def __init__(self, *args, practice, **kwargs):
        from telehealth.accounts.models import Patient, Role, User
        from visits.models import GroupSession

        super().__init__(*args, **kwargs)
        clinicians = User.objects.filter(
            practice=practice, role=Role.CLINICIAN, is_active=True
        ).order_by("full_name")
        self.fields["host"].queryset = clinicians  # type: ignore[attr-defined]
        self.fields["co_hosts"].queryset = clinicians  # type: ignore[attr-defined]
        self.fields["patients"].queryset = Patient.objects.filter(  # type: ignore[attr-defined]
            practice=practice
        ).order_by("legal_name")
        self.fields["modality"].choices = GroupSession.Modality.choices  # type: ignore[attr-defined]

    def clean(self):
        data = super().clean() or {}
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must come after the start."))
        if starts and ends and (ends - starts).total_seconds() > 8 * 3600:
            self.add_error("ends_at", _("A group session lasts at most 8 hours."))
        return data
