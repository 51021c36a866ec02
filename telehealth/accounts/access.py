"""Role checks for views. Object-level access lives in selectors (`access_<thing>`)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from telehealth.accounts.models import STAFF_ROLES, Role, User

View = Callable[..., HttpResponse]


def lacks_practice(user: User) -> bool:
    """Staff work on their practice's data; an account with none (a removed practice, a
    platform superuser, a misconfigured account) is refused rather than shown nothing or
    crashing on `user.practice`."""
    return user.role in STAFF_ROLES and user.practice_id is None


def no_practice_response(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/403_no_practice.html", status=403)


def role_required(*roles: str) -> Callable[[View], View]:
    """Anonymous users are sent to log in; signed-in users of another role get 403, and so do
    staff without a practice, so no staff view needs to check `practice_id` itself."""
    allowed = frozenset(roles)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.role not in allowed:
                raise PermissionDenied
            if lacks_practice(user):
                return no_practice_response(request)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


signed_in_required = role_required(*Role.values)
staff_required = role_required(*STAFF_ROLES)
patient_required = role_required(Role.PATIENT)
clinician_required = role_required(Role.CLINICIAN)
practice_admin_required = role_required(Role.PRACTICE_ADMIN)
