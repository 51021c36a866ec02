from django import forms
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from documents import selectors
from documents.models import Kind, LibraryItem
from scheduling.models import Appointment, AppointmentType
from telehealth.accounts.models import Patient, Provider, User

ACCEPT = "application/pdf,image/*"
FILE_HELP = _("A PDF or a picture (JPEG, PNG, HEIC, WebP), up to 20 MB.")  # services.MAX_BYTES


class AppointmentChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Appointment) -> str:
        start = timezone.localtime(obj.start, obj.practice.zone)
        return f"{date_format(start, 'DATE_FORMAT')} · {obj.appointment_type.name}"


class ShareForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"))
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        required=False,
        help_text=_("What the patient sees in their list, e.g. “Blood tests of 3 March”."),
    )
    file = forms.FileField(
        label=_("File"),
        required=False,
        help_text=FILE_HELP,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )
    library_item: "forms.ModelChoiceField[LibraryItem]" = forms.ModelChoiceField(
        label=_("Or an item of the education library"),
        required=False,
        queryset=None,
        empty_label=_("(none)"),
    )
    comment = forms.CharField(
        label=_("Comment for the patient (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    appointment = AppointmentChoice(
        label=_("Visit it belongs to (optional)"),
        required=False,
        queryset=None,
        empty_label=_("(no visit)"),
    )

    def __init__(self, *args, user: User, patient: Patient, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = selectors.kinds_shareable_by(user)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [(k, Kind(k).label) for k in kinds]
        library = self.fields["library_item"]
        assert isinstance(library, forms.ModelChoiceField)
        library.queryset = selectors.library_offered_to(user)
        visit = self.fields["appointment"]
        assert isinstance(visit, forms.ModelChoiceField)
        visit.queryset = selectors.appointments_to_attach(user=user, patient=patient)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        item = data.get("library_item")
        if bool(data.get("file")) == bool(item):
            raise forms.ValidationError(_("Upload a file or choose one from the library."))
        if item is not None and not data.get("title"):
            data["title"] = item.title
        if not data.get("title"):
            self.add_error("title", _("Give the document a title."))
        return data


class LibraryForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    file = forms.FileField(
        label=_("File"),
        help_text=FILE_HELP,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
    )


class ProviderChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Provider) -> str:
        return obj.display_name


class CandidateFilterForm(forms.Form):
    """Which patients to list for a share with many: by name, provider, upcoming visit type."""

    q = forms.CharField(label=_("Patient name"), max_length=100, required=False)
    provider = ProviderChoice(
        label=_("Patients of"),
        required=False,
        queryset=None,
        empty_label=_("Every provider"),
        help_text=_("Patients on the provider's care team."),
    )
    visit_type: "forms.ModelChoiceField[AppointmentType]" = forms.ModelChoiceField(
        label=_("With an upcoming visit of type"),
        required=False,
        queryset=None,
        empty_label=_("Any, or none"),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        provider = self.fields["provider"]
        assert isinstance(provider, forms.ModelChoiceField)
        provider.queryset = selectors.providers_of_practice(user)
        visit_type = self.fields["visit_type"]
        assert isinstance(visit_type, forms.ModelChoiceField)
        visit_type.queryset = selectors.appointment_types_of_practice(user)

    @property
    def narrows_to_a_group(self) -> bool:
        """A provider's or a visit type's patients (not a name search): all are pre-chosen."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return bool((data.get("provider") or data.get("visit_type")) and not data.get("q"))


class PatientIdsField(forms.Field):
    """The ids of the ticked patients; who they are is the service's to check."""

    widget = forms.MultipleHiddenInput  # the page draws the checkboxes itself
    default_error_messages = {
        "required": _("Choose at least one patient."),
        "invalid": _("Choose patients from the list."),
    }

    def to_python(self, value) -> set[int]:
        try:
            return {int(v) for v in value or []}
        except (TypeError, ValueError) as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error


class ShareManyForm(forms.Form):
    patients = PatientIdsField(label=_("Patients"))
    comment = forms.CharField(
        label=_("Comment for the patients (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The same for everyone; shown with the leaflet in their portal."),
    )
