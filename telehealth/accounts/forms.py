from collections.abc import Iterator

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    AuthenticationForm,
    PasswordResetForm,
    UserChangeForm,
)
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.display import COMMON_ZONES, state_choices, zone_choices
from telehealth.accounts.models import User
from telehealth.accounts.validation import normalise_email, validate_time_zone


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


class InvitationDateOfBirthForm(DateOfBirthForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["date_of_birth"].help_text = _("To make sure this invitation is yours.")


class AccountPasswordForm(forms.Form):
    """Choose the password of a new patient account. The email on the patient's record is the
    sign-in name: shown, never taken from the form."""

    email = forms.EmailField(
        label=_("Email (your sign-in name)"),
        disabled=True,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "username", "readonly": True}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    password2 = forms.CharField(
        label=_("Confirm password"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Type the same password again."),
    )

    def __init__(self, *args, account: User, **kwargs) -> None:
        """`account` is the account to be, unsaved: the validators compare the password with
        its email and name."""
        kwargs["initial"] = {"email": account.email}
        super().__init__(*args, **kwargs)
        self.account = account
        # What the configured validators ask for, in their own words.
        self.fields["password1"].help_text = " ".join(
            password_validation.password_validators_help_texts()
        )

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        password, again = cleaned.get("password1"), cleaned.get("password2")
        if not password:
            return cleaned
        try:
            password_validation.validate_password(password, self.account)
        except ValidationError as error:
            self.add_error("password1", error)
            return cleaned
        if again is not None and password != again:
            self.add_error("password2", _("The two passwords do not match."))
        return cleaned


class EmailPasswordResetForm(PasswordResetForm):
    """Finds the account through the email's blind index (the email itself is encrypted)."""

    def get_users(self, email: str) -> Iterator[User]:
        for user in User.objects.with_email(email).filter(is_active=True):
            if user.has_usable_password():
                yield user


class UniqueEmailForm(forms.ModelForm):
    """Admin user forms: an email field, unique through the blind index (the database's unique
    index on it is the backstop under a race)."""

    email = forms.EmailField(label=_("Email"), max_length=254)

    def clean_email(self) -> str:
        email = normalise_email(self.cleaned_data["email"])
        others = User.objects.with_email(email)
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise ValidationError(_("Another account already uses this email."), code="unique")
        return email


class AdminUserChangeForm(UniqueEmailForm, UserChangeForm):
    pass


class AdminUserAddForm(UniqueEmailForm, AdminUserCreationForm):
    pass


def zone_field(current: str = "") -> forms.ChoiceField:
    """A time zone select of readable names with today's offsets; the value stays the IANA
    name. `current` (the stored value) is offered even when it is not a listed place."""
    listed = zone_choices(include=[current] if current else [])
    common = [choice for choice in listed if choice[0] in COMMON_ZONES]
    others = [choice for choice in listed if choice[0] not in COMMON_ZONES]
    return forms.ChoiceField(
        label=_("Time zone"),
        choices=[
            ("", "---------"),
            (_("United States"), common),
            (_("Other places"), others),
        ],
        validators=[validate_time_zone],
    )


class PracticeAdminForm(forms.ModelForm):
    """The admin's form for a practice (the admin supplies the model and fields)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "time_zone" in self.fields:
            self.fields["time_zone"] = zone_field(self.instance.time_zone or "")


class ProviderAdminForm(forms.ModelForm):
    """The admin's form for a provider: states chosen by name, the zone from a list."""

    licensed_states = forms.MultipleChoiceField(
        label=_("Licensed states"),
        choices=state_choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 12}),
        help_text=_("Hold Ctrl (Cmd on a Mac) to choose more than one."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "time_zone" in self.fields:
            self.fields["time_zone"] = zone_field(self.instance.time_zone or "")
