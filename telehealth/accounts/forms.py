from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()

    error_messages = {
        "invalid_login": _("That email and password do not match an account."),
        "inactive": _("This account is not active. Contact your practice."),
    }


class OTPTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Verification code"),
        min_length=6,
        max_length=16,
        help_text=_("The 6-digit code from your authenticator app, or a backup code."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        return self.cleaned_data["token"].replace(" ", "").replace("-", "")


class BreakGlassForm(forms.Form):
    reason = forms.CharField(
        label=_("Clinical reason for emergency access"),
        min_length=10,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Recorded in the audit trail and reviewed by a practice admin."),
    )
    confirm = forms.BooleanField(
        label=_("I understand this access is recorded and will be reviewed."), required=True
    )


class ReviewForm(forms.Form):
    note = forms.CharField(
        label=_("Review note"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )


class DateOfBirthForm(forms.Form):
    date_of_birth = forms.DateField(
        label=_("Your date of birth"),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}),
        help_text=_("To make sure this visit is yours."),
        error_messages={"invalid": _("Enter your date of birth, for example 1984-03-12.")},
    )
