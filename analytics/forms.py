from datetime import date, datetime, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from analytics.selectors import Filters
from scheduling import selectors as scheduling
from telehealth.accounts.models import Provider

DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)


class FilterForm(forms.Form):
    first_day = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    last_day = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    provider: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Provider"),
        queryset=Provider.objects.none(),
        required=False,
        empty_label=_("All providers"),
    )
    modality = forms.ChoiceField(
        label=_("Visit kind"),
        required=False,
        choices=[
            ("", _("All kinds")),
            ("video", _("Video")),
            ("phone", _("Phone")),
            ("in_person", _("In person")),
        ],
    )

    def __init__(self, *args, user, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.today = user, today
        self.fields["provider"].queryset = scheduling.practice_providers(user=user)  # type: ignore[attr-defined]

    def clean(self):
        data = super().clean() or {}
        chosen = [day for day in (data.get("first_day"), data.get("last_day")) if day]
        if any(not EARLIEST <= day <= LATEST for day in chosen):
            # Also keeps the period's day arithmetic inside the calendar (years 1 and 9999).
            raise forms.ValidationError(
                _("Choose dates between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}
            )
        last = data.get("last_day") or self.today
        first = data.get("first_day") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise forms.ValidationError(_("The start date must be on or before the end date."))
        if (last - first).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose a period of at most 366 days."))
        data["first_day"], data["last_day"] = first, last
        return data

    def filters(self) -> Filters:
        zone = self.user.practice.zone
        first, last = self.cleaned_data["first_day"], self.cleaned_data["last_day"]
        provider = self.cleaned_data.get("provider")
        return Filters(
            first_day=first,
            last_day=last,
            start=datetime.combine(first, datetime.min.time(), zone),
            end=datetime.combine(last + timedelta(days=1), datetime.min.time(), zone),
            provider_id=provider.pk if provider else None,
            provider_user_id=provider.user_id if provider else None,
            modality=self.cleaned_data.get("modality") or "",
        )
