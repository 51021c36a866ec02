"""Role checks for views. Object-level access lives in selectors (`access_<thing>`)."""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from telehealth.accounts.models import STAFF_ROLES, Role


def role_required(*roles: str):
    """Anonymous users are sent to log in; signed-in users of another role get 403."""
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if request.user.role not in allowed:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def practice_required(view):
    """Under a role check, for pages that work on the user's own practice: a user with no
    practice (a platform superuser, or staff whose practice was removed) gets 403 rather than
    a crash or a page of nothing."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.practice_id is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


staff_required = role_required(*STAFF_ROLES)
patient_required = role_required(Role.PATIENT)
clinician_required = role_required(Role.CLINICIAN)
practice_admin_required = role_required(Role.PRACTICE_ADMIN)
