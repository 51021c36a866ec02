"""No sign-in as a SMART client's service user, whatever password it might be given (a
practice admin could set one on the staff page): it acts only through access tokens."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from telehealth.accounts.models import email_index
from telehealth.smart.models import SmartClient


class ServiceUserSignInRefusal:
    """Listed before the password backends: PermissionDenied stops Django trying the others,
    and the failure is signalled (audited and counted) like any other. Not a BaseBackend on
    purpose: without `get_user` it never holds a session (and `force_login` skips it)."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if (
            username
            and SmartClient.objects.filter(service_user__email_index=email_index(username)).exists()
        ):
            raise PermissionDenied
        return None
