"""Pure rules for sessions and MFA, shared by HTTP middleware and WebSocket consumers."""

from django.conf import settings
from django.utils.translation import gettext as _
from django_otp import user_has_device
from django_otp.models import Device

LAST_SEEN_KEY = "last_seen"
AUTHENTICATED_AT_KEY = "authenticated_at"
# Activity is written to the session at most this often, so a signed-in request does not save
# the session (a database write) every time. The idle clock can run up to this much ahead of
# the last click: a session ends at most this early, never late, and the pages are told the
# real deadline (`seconds_left`).
ACTIVITY_RESOLUTION_SECONDS = 60
# Set on the signed-in user by the authentication backend, read with the user in one query.
CONFIRMED_DEVICE_ATTR = "has_confirmed_device"
# Set on the signed-in user when read through the session cache (user_cache): their confirmed
# devices by persistent id, so the OTP middleware finds the session's device without a query.
CONFIRMED_DEVICES_ATTR = "confirmed_devices"


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


def record_activity(session, *, now: float, force: bool = False) -> None:
    """Move the idle clock to `now`, unless it moved less than ACTIVITY_RESOLUTION_SECONDS ago
    (an explicit "stay signed in" forces it)."""
    if force or now - session.get(LAST_SEEN_KEY, 0) >= ACTIVITY_RESOLUTION_SECONDS:
        session[LAST_SEEN_KEY] = int(now)


def has_confirmed_device(user) -> bool:
    """django_otp's `user_has_device(confirmed=True)`, answered from the request's user row when
    the backend read it there (a query per device model otherwise)."""
    known = getattr(user, CONFIRMED_DEVICE_ATTR, None)
    if known is None:
        return user_has_device(user, confirmed=True)
    return known


def forget_confirmed_device(user) -> None:
    """After a device change in this request: ask the database again."""
    if hasattr(user, CONFIRMED_DEVICE_ATTR):
        delattr(user, CONFIRMED_DEVICE_ATTR)


def needs_mfa_enrolment(user) -> bool:
    return user.is_staff_role and not has_confirmed_device(user)


def needs_mfa_verification(user, request) -> bool:
    """Enrolled users (every staff member, patients who opted in) verify once per session."""
    if user.is_verified():
        return False
    return has_confirmed_device(user)


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


def seconds_left(session, user, *, now: float) -> int | None:
    """How long until the session ends if nothing moves the idle clock, for the page's warning."""
    deadline = session_deadline(session, user)
    return None if deadline is None else max(int(deadline - now), 0)
