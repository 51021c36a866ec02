"""What the lockout (django-axes) counts failed sign-ins under: the email's blind index, so
its tables never hold an email."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from telehealth.accounts.models import email_index


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """AXES_USERNAME_CALLABLE: axes calls it with the sign-in's credentials, or with only the
    request when it checks a lockout before authenticating."""
    field = settings.AXES_USERNAME_FORM_FIELD
    attempted = (credentials or {}).get(field)
    if attempted is None and request is not None:
        attempted = getattr(request, "data", request.POST).get(field)
    return email_index(str(attempted)) if attempted else None
