"""Session policy, MFA enforcement and the patient's language, applied to every request."""

import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import LazyObject, SimpleLazyObject, empty
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware as DjangoOTPMiddleware

from telehealth.accounts import user_cache
from telehealth.accounts.models import User
from telehealth.accounts.policy import (
    CONFIRMED_DEVICES_ATTR,
    needs_mfa_enrolment,
    needs_mfa_verification,
    record_activity,
    seconds_left,
    session_expiry_reason,
)


def wants_json(request) -> bool:
    return request.path.startswith(
        ("/api/", "/fhir/")
    ) or "application/json" in request.headers.get("Accept", "")


# Paths a signed-in user may reach before finishing MFA or after a session ends.
MFA_EXEMPT_PREFIXES = (
    "/accounts/logout/",
    "/accounts/mfa/setup/",
    "/accounts/mfa/verify/",
    "/static/",
    "/healthz",
    "/i18n/",
)


# A page re-reading itself because the server said something changed (a live alert), not
# because someone used it: such a request leaves the idle clock alone. Sending the header can
# only bring one's own sign-out closer, so it needs no further check.
BACKGROUND_HEADER = "X-Background-Refresh"
BACKGROUND_META = "HTTP_X_BACKGROUND_REFRESH"
# Seconds until the session idles out, on every signed-in response: activity is recorded at
# most once a minute, so after an htmx request the page's warning timer reads the real deadline
# here rather than assuming a full idle period from now.
SECONDS_LEFT_HEADER = "X-Session-Seconds-Left"


def _user(request: HttpRequest):
    if not hasattr(request, "_cached_user"):
        with user_cache.session_being_read(request.session):
            request._cached_user = auth.get_user(request)  # type: ignore[attr-defined]
    return request._cached_user  # type: ignore[attr-defined]


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    """Django's, reading the user with the snapshot tokens its session was read with
    (telehealth.accounts.sessions), so a warm signed-in request asks Redis once."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _user(request))  # type: ignore[assignment]


def _unwrapped(user: Any) -> Any:
    """The object a lazy one stands for, evaluated if it was not yet."""
    if isinstance(user, LazyObject):
        if user._wrapped is empty:  # type: ignore[attr-defined]  # LazyObject's own
            user._setup()  # type: ignore[attr-defined]
        return user._wrapped  # type: ignore[attr-defined]
    return user


class OTPMiddleware(DjangoOTPMiddleware):
    """django_otp's middleware, finding the session's device among the user's confirmed devices
    when the user was read with them (user_cache) instead of querying for it."""

    def _install_lazy_accessors(self, request):
        """django_otp wraps request.user in a second lazy object around Django's, so every read
        of the user's attributes (some eighty a request through this middleware) went through
        two proxies, each raising and catching an AttributeError. The user is read before this
        middleware anyway (NoStoreWhenSignedInMiddleware asks whether anyone is signed in), so
        here they are verified at once and request.user is the user itself. request.auser
        (async) stays django_otp's."""
        user = getattr(request, "user", None)
        super()._install_lazy_accessors(request)
        if user is not None and not self._is_async:
            request.user = self._verify_user_sync(request, _unwrapped(user))

    def _verify_user_sync(self, request, user):
        devices = getattr(user, CONFIRMED_DEVICES_ATTR, None)
        if devices is None:
            return super()._verify_user_sync(request, user)
        self._init_user_fields(user)
        persistent_id = request.session.get(DEVICE_ID_SESSION_KEY)
        device = (
            devices.get(self._normalize_persistent_id(persistent_id)) if persistent_id else None
        )
        user.otp_device = self._finalize_device(request, user, device)
        return user


class SessionTimeoutMiddleware:
    """Ends sessions idle for longer than the role allows, and any older than the absolute
    limit. Keep-alive pings count as activity; background polls should not be sent, and a
    refresh a live event caused says so (BACKGROUND_HEADER) and does not count. Activity is
    recorded at most once a minute (policy.record_activity), so most requests leave the
    session, and the database, untouched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated:
            return self.get_response(request)
        user = request.user
        now = time.time()
        reason = session_expiry_reason(request.session, user, now=now)
        if reason:
            logout(request)
            if wants_json(request):
                return JsonResponse({"detail": _("Your session has ended.")}, status=401)
            messages.info(request, reason)
            return redirect(f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': request.path})}")
        # META, not request.headers: that builds a dict of every header on first use.
        if request.META.get(BACKGROUND_META) != "1":
            record_activity(request.session, now=now)
        response = self.get_response(request)
        # Not after a sign-out (the session no longer names anyone).
        if request.user.is_authenticated:
            left = seconds_left(request.session, user, now=now)
            if left is not None:
                response[SECONDS_LEFT_HEADER] = str(left)
        return response


class MFARequiredMiddleware:
    """Staff reach nothing but enrolment until a TOTP device is verified in this session;
    patients who opted in must verify too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if not user.is_authenticated or request.path.startswith(MFA_EXEMPT_PREFIXES):
            return self.get_response(request)
        if needs_mfa_enrolment(user):
            target = "accounts:mfa-setup"
        elif needs_mfa_verification(user, request):
            target = "accounts:mfa-verify"
        else:
            return self.get_response(request)
        if wants_json(request):
            return JsonResponse(
                {"detail": _("Multi-factor authentication is required.")}, status=403
            )
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


class PatientLanguageMiddleware:
    """A signed-in patient sees their preferred language; everyone else the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_patient:
            language = getattr(getattr(user, "patient", None), "preferred_language", "")
            if language in dict(settings.LANGUAGES):
                translation.activate(language)
                request.LANGUAGE_CODE = language
        return self.get_response(request)


def viewer_zone(user: User | AnonymousUser) -> ZoneInfo | None:
    """The zone a signed-in user reads times in: their practice's (a patient's through their
    patient record). None for visitors and for staff without a practice."""
    if not user.is_authenticated:
        return None
    if user.is_patient:
        patient = getattr(user, "patient", None)
        return patient.practice.zone if patient is not None else None
    practice = user.practice
    return practice.zone if practice is not None else None


class ViewerTimeZoneMiddleware:
    """Activates the viewer's zone for the request, so every `date`/`time` filter and
    `localtime` shows practice time rather than the server's UTC."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = viewer_zone(request.user)
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
