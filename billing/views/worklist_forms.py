"""The filters of the encounters CSV."""

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.models import Encounter
from billing.worklists import EncounterFilter
from telehealth.accounts.models import Provider


class ExportForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *Encounter.Status.choices],
    )
    provider = forms.ModelChoiceField(
        label=_("Provider"),
        required=False,
        queryset=Provider.objects.none(),
        empty_label=_("All providers"),
        error_messages={"invalid_choice": _("Choose a provider of this practice.")},
    )
    month = forms.DateField(
        label=_("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages={"invalid": _("Give the month as YYYY-MM, e.g. 2026-03.")},
    )

    def __init__(self, *args, practice_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        providers = Provider.objects.filter(practice_id=practice_id).order_by("display_name")
        self.fields["provider"].queryset = providers  # type: ignore[attr-defined]

    def filters(self) -> EncounterFilter:
        data = self.cleaned_data
        return EncounterFilter(
            status=data["status"], provider=data["provider"], month=data["month"]
        )

    def filename(self) -> str:
        month = self.cleaned_data["month"]
        return f"encounters-{month:%Y-%m}.csv" if month else "encounters.csv"
