import time

from django.conf import settings

from telehealth.accounts.policy import (
    idle_limit_seconds,
    needs_mfa_enrolment,
    needs_mfa_verification,
    seconds_left,
)


def session_policy(request) -> dict:
    """Lets the base template tell the timeout-warning script when the session will idle out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "mfa_pending": needs_mfa_enrolment(user) or needs_mfa_verification(user, request),
        "session_idle_seconds": idle_limit_seconds(user),
        # The idle clock moves at most once a minute: the warning counts from the real deadline.
        "session_seconds_left": seconds_left(request.session, user, now=time.time()),
        "session_warning_seconds": settings.SESSION_WARNING_SECONDS,
    }
