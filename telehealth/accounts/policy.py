"""Pure rules for sessions and MFA, shared by HTTP middleware and WebSocket consumers."""

from django.conf import settings
from django.utils.translation import gettext as _
from django_otp import user_has_device
from django_otp.models import Device

LAST_SEEN_KEY = "last_seen"
AUTHENTICATED_AT_KEY = "authenticated_at"


def idle_limit_seconds(user) -> int:
    if user.is_staff_role:
        return settings.SESSION_IDLE_SECONDS_STAFF
    return settings.SESSION_IDLE_SECONDS_PATIENT


def session_expiry_reason(session, user, *, now: float) -> str:
    """Why this session must end now, or "" while it may go on."""
    authenticated_at = session.get(AUTHENTICATED_AT_KEY)
    last_seen = session.get(LAST_SEEN_KEY, authenticated_at)
    if authenticated_at is None:
        return ""
    if now - authenticated_at > settings.SESSION_ABSOLUTE_SECONDS:
        return _("You were signed out because your session reached its time limit.")
    if last_seen is not None and now - last_seen > idle_limit_seconds(user):
        return _("You were signed out after a period of inactivity.")
    return ""


def needs_mfa_enrolment(user) -> bool:
    return user.is_staff_role and not user_has_device(user, confirmed=True)


def needs_mfa_verification(user, request) -> bool:
    """Enrolled users (every staff member, patients who opted in) verify once per session."""
    if user.is_verified():
        return False
    return user_has_device(user, confirmed=True)


def session_is_verified(session, user) -> bool:
    """The WebSocket equivalent of `user.is_verified()`: the session names a device of theirs."""
    from django_otp import DEVICE_ID_SESSION_KEY

    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id)
    return device is not None and device.user_id == user.pk and device.confirmed


def session_deadline(session, user) -> float | None:
    """When `session_expiry_reason` will first answer, if nothing moves the idle clock."""
    authenticated_at = session.get(AUTHENTICATED_AT_KEY)
    if authenticated_at is None:
        return None
    last_seen = session.get(LAST_SEEN_KEY, authenticated_at)
    return min(
        authenticated_at + settings.SESSION_ABSOLUTE_SECONDS,
        last_seen + idle_limit_seconds(user),
    )
