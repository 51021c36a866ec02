from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rpm.models import Device, Program, TimeLog


class PatientPageForm(forms.Form):
    """A form of the patient's monitoring page, which shows them all at once: each names its
    ids after itself, as two have a field called "kind"."""

    id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class EnrollForm(PatientPageForm):
    id_prefix = "enroll"

    program = forms.ChoiceField(label=_("Program"), choices=Program.choices)
    consent = forms.BooleanField(
        label=_("The patient agreed to remote monitoring."),
        error_messages={"required": _("Monitoring needs the patient's agreement.")},
    )


class DeviceForm(PatientPageForm):
    id_prefix = "device"

    kind = forms.ChoiceField(label=_("Device"), choices=Device.Kind.choices)
    manufacturer = forms.CharField(label=_("Manufacturer"), max_length=80, required=False)
    serial = forms.CharField(label=_("Serial number"), max_length=80, required=False)


class TimeForm(PatientPageForm):
    id_prefix = "time"

    kind = forms.ChoiceField(label=_("Kind of time"), choices=TimeLog.Kind.choices)
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=240)
    day = forms.DateField(
        label=_("Day"), initial=timezone.localdate, widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(label=_("Note"), max_length=1000, required=False)


class ResolveForm(PatientPageForm):
    id_prefix = "resolve"

    note = forms.CharField(label=_("What was done"), max_length=2000)
