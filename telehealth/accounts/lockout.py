"""The per-account sign-in lock, beside django-axes' lock of one email from one address.

Axes alone lets an attacker try four passwords from each of many addresses. Here every account
counts failures from addresses it has never signed in from; past SIGN_IN_BACKOFF_THRESHOLD the
account is locked for SIGN_IN_BACKOFF_FIRST_MINUTES, and each failure after a lock ends locks it
again for twice as long, up to SIGN_IN_BACKOFF_MAX_MINUTES. An address the account signed in from
within SIGN_IN_KNOWN_ADDRESS_DAYS is never locked out this way (axes still limits it), so an
attacker can slow the guessing down but cannot keep the user out of their own account.

The code works on the User object and its id only: how an email finds its user is the user
manager's business (`get_by_natural_key`)."""

import math
from datetime import datetime, timedelta
from typing import Any

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    Exists,
    F,
    Max,
    OuterRef,
    PositiveIntegerField,
    Q,
    Value,
    When,
)
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from telehealth.accounts.models import SignInAddress, SignInBackoff, User, email_index
from telehealth.accounts.user_cache import signed_in_user
from telehealth.net import client_address

LOCKED_UNTIL_ATTR = "sign_in_locked_until"


def lock_minutes(locks: int) -> int:
    """How long the `locks`-th lock lasts (the first is 1): doubling, capped."""
    first = settings.SIGN_IN_BACKOFF_FIRST_MINUTES
    return min(first * 2 ** max(locks - 1, 0), settings.SIGN_IN_BACKOFF_MAX_MINUTES)


def _known_since() -> datetime:
    return timezone.now() - timedelta(days=settings.SIGN_IN_KNOWN_ADDRESS_DAYS)


def sign_in_state(*, user: User, ip: str | None) -> tuple[datetime | None, bool]:
    """Until when the account is locked (None if it is not), and whether `ip` is one of its
    known addresses: one query, asked before the password is checked."""
    known = SignInAddress.objects.filter(
        user=OuterRef("pk"), ip=ip, last_success_at__gte=_known_since()
    )
    row = (
        User.objects.filter(pk=user.pk)
        .values("sign_in_backoff__locked_until")
        .annotate(known=Exists(known) if ip is not None else Value(False))
        .get()
    )
    locked_until = row["sign_in_backoff__locked_until"]
    if locked_until is not None and locked_until <= timezone.now():
        locked_until = None
    return locked_until, row["known"]


def sign_in_failure_record(*, user: User) -> None:
    """Count one failure from an unknown address, and lock the account if it is due.

    One UPDATE on the account's row: concurrent failures queue on its row lock and each sees
    the count the one before left, so none is lost and a lock is set once. The lock's length
    is chosen in SQL from the number of locks so far, the steps computed here."""
    now = timezone.now()
    due = Q(failures__gte=settings.SIGN_IN_BACKOFF_THRESHOLD - 1) & (
        Q(locked_until__isnull=True) | Q(locked_until__lte=now)
    )
    steps = range(_steps_to_cap())
    ends = [When(locks=done, then=Value(now + _lock(done + 1))) for done in steps]
    changes = {
        "failures": F("failures") + 1,
        "locks": Case(
            When(due, then=F("locks") + 1), default=F("locks"), output_field=PositiveIntegerField()
        ),
        "locked_until": Case(
            When(due, then=Case(*ends, default=Value(now + _lock(len(steps) + 1)))),
            default=F("locked_until"),
        ),
    }
    if SignInBackoff.objects.filter(user=user).update(**changes):
        return
    try:
        with transaction.atomic():
            first_locks = settings.SIGN_IN_BACKOFF_THRESHOLD <= 1
            SignInBackoff.objects.create(
                user=user,
                failures=1,
                locks=int(first_locks),
                locked_until=now + _lock(1) if first_locks else None,
            )
    except IntegrityError:  # a concurrent first failure created the row
        SignInBackoff.objects.filter(user=user).update(**changes)


def _lock(number: int) -> timedelta:
    return timedelta(minutes=lock_minutes(number))


def _steps_to_cap() -> int:
    """Locks after which every further lock lasts the maximum."""
    steps = 0
    while steps < 16 and lock_minutes(steps + 1) < settings.SIGN_IN_BACKOFF_MAX_MINUTES:
        steps += 1
    return steps


def sign_in_backoff_clear(*, user: User) -> None:
    SignInBackoff.objects.filter(user=user).delete()


def sign_in_success_record(*, user: User, ip: str | None) -> None:
    """The password was right: forget the failures and remember the address."""
    with transaction.atomic():
        SignInBackoff.objects.filter(user=user).delete()
        if ip is not None:
            SignInAddress.objects.bulk_create(
                [SignInAddress(user=user, ip=ip, last_success_at=timezone.now())],
                update_conflicts=True,
                unique_fields=["user", "ip"],
                update_fields=["last_success_at"],
            )


class SignInBackoffBackend(ModelBackend):
    """Django's password check, refused while the account is locked for this address, and
    counting the failures that lead to that lock."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        UserModel = get_user_model()
        if username is None:
            username = kwargs.get(UserModel.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = UserModel._default_manager.get_by_natural_key(username)
        except UserModel.DoesNotExist:
            UserModel().set_password(password)  # as long as a real check (ModelBackend's rule)
            return None
        locked_until, known = sign_in_state(user=user, ip=client_address(request))
        if locked_until is not None and not known:
            if request is not None:
                setattr(request, LOCKED_UNTIL_ATTR, locked_until)
            raise PermissionDenied  # Django then signals the failure, which axes counts
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        if not known:
            sign_in_failure_record(user=user)
        return None

    def get_user(self, user_id: Any) -> User | None:
        # Every signed-in request starts here: the user and what the middleware reads of them
        # next, from this process's snapshot (user_cache) or in one query.
        user = signed_in_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


def _axes_locked_until(request: HttpRequest, credentials: dict | None) -> datetime:
    """When axes' lock of this email and address ends: a lock runs from the failure that set
    it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is off)."""
    cool_off = get_cool_off(request) or timedelta(0)
    last = AccessAttempt.objects.filter(
        username=get_client_username(request, credentials),
        ip_address=getattr(request, "axes_ip_address", None),
    ).aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + cool_off


def locked_out_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The refusal page for either lock, saying when to try again (axes' AXES_LOCKOUT_CALLABLE
    and the sign-in view's answer to the per-account lock)."""
    until = getattr(request, LOCKED_UNTIL_ATTR, None) or _axes_locked_until(request, credentials)
    seconds = max((until - timezone.now()).total_seconds(), 0)
    minutes = max(math.ceil(seconds / 60), 1)
    response = render(
        request,
        "accounts/locked_out.html",
        {"retry_at": until, "retry_minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(math.ceil(seconds))
    return response


def lockout_username(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """AXES_USERNAME_CALLABLE: axes counts failed sign-ins under the email's blind index, so its
    tables never hold an email. Axes calls it with the sign-in's credentials, or with only the
    request when it checks a lockout before authenticating."""
    field = settings.AXES_USERNAME_FORM_FIELD
    attempted = (credentials or {}).get(field)
    if attempted is None and request is not None:
        attempted = getattr(request, "data", request.POST).get(field)
    return email_index(str(attempted)) if attempted else None
