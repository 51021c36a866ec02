from django.conf import settings

from telehealth.accounts.policy import idle_limit_seconds


def session_policy(request) -> dict:
    """Lets the base template tell the timeout-warning script when the session will idle out."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "session_idle_seconds": idle_limit_seconds(user),
        "session_warning_seconds": settings.SESSION_WARNING_SECONDS,
    }
