"""Audit receivers for Django's authentication signals and admin log entries, and the
receivers that end or re-check live sockets, and drop the cached signed-in user (user_cache),
when a session or what it may reach changes."""

import time
from importlib import import_module
from typing import Any, cast

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_otp.models import Device

from telehealth.accounts import lockout, user_cache
from telehealth.accounts.models import BreakGlassGrant, Patient, Practice, User, email_index
from telehealth.accounts.policy import AUTHENTICATED_AT_KEY, LAST_SEEN_KEY
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.net import client_address
from telehealth.realtime import check_user_sockets, end_session_sockets

# User fields whose change can end a session or narrow what it may reach.
SESSION_FIELDS = frozenset(
    {"password", "security_stamp", "is_active", "role", "practice", "practice_id"}
)


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    now = int(time.time())
    if request is not None and hasattr(request, "session"):
        request.session[AUTHENTICATED_AT_KEY] = now
        request.session[LAST_SEEN_KEY] = now
    audit.record(action=Action.LOGIN, actor=user, request=request)
    lockout.sign_in_success_record(user=user, ip=client_address(request))


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is not None:
        audit.record(action=Action.LOGOUT, actor=user, request=request)
    session = getattr(request, "session", None)
    if session is not None and session.session_key:
        end_session_sockets(session.session_key)


@receiver(post_save, sender=User)
def on_user_saved(
    sender: type[User], instance: User, update_fields: frozenset[str] | None = None, **kwargs
) -> None:
    # Any field: the cached user is what every page shows of them, not only what it checks.
    user_cache.forget_user(instance.pk)
    if update_fields is None or SESSION_FIELDS & set(update_fields):
        check_user_sockets(instance.pk)


@receiver(post_delete, sender=User)
@receiver(post_delete, sender=BreakGlassGrant)
@receiver(post_save, sender=BreakGlassGrant)
def on_access_changed(sender: type, instance: User | BreakGlassGrant, **kwargs) -> None:
    if isinstance(instance, User):
        user_cache.forget_user(instance.pk)
    check_user_sockets(instance.pk if isinstance(instance, User) else instance.clinician_id)


@receiver(post_save)
@receiver(post_delete)
def on_device_changed(sender: type, instance: object, **kwargs) -> None:
    """Any second-factor device (TOTP, backup codes) added, changed or removed."""
    if isinstance(instance, Device):
        user_cache.forget_user(instance.user_id)
        check_user_sockets(instance.user_id)


@receiver(post_delete, sender=Session)
def on_session_deleted(sender: type[Session], instance: Session, **kwargs) -> None:
    """A session deleted from the database (an operator ending it, the expiry sweep) is gone
    from the cache in front of it too, at once and again after commit (a request in between
    may have cached the row it could still read)."""
    if not issubclass(import_module(settings.SESSION_ENGINE).SessionStore, CachedDBStore):
        return
    key = CachedDBStore.cache_key_prefix + instance.session_key
    store = caches[settings.SESSION_CACHE_ALIAS]
    store.delete(key)
    transaction.on_commit(lambda: store.delete(key))


@receiver(post_save, sender=Patient)
@receiver(post_delete, sender=Patient)
def on_patient_changed(sender: type[Patient], instance: Patient, **kwargs) -> None:
    """Their language and practice are read with the signed-in user."""
    user_cache.forget_user(instance.user_id)


@receiver(post_save, sender=Practice)
@receiver(post_delete, sender=Practice)
def on_practice_changed(sender: type[Practice], instance: Practice, **kwargs) -> None:
    """Its time zone is read with every signed-in user of it."""
    user_cache.forget_all_practices()


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    audit.record(
        action=Action.LOGIN_FAILED, actor_label=failed_login_label(credentials), request=request
    )


def failed_login_label(credentials: dict[str, Any]) -> str:
    """Who a failed sign-in was for, without the email typed: the account's id and role when
    one matches, else the email's blind index (an investigator can compute it from an email)."""
    attempted = str(credentials.get("username") or credentials.get("email") or "")
    if not attempted:
        return ""
    user = User.objects.with_email(attempted).only("pk", "role").first()
    if user is not None:
        return user.audit_label
    return f"unknown email {email_index(attempted)}"


@receiver(post_save, sender=LogEntry)
def on_admin_change(sender, instance: LogEntry, created: bool, **kwargs):
    if created:
        # Set on every new entry; django-stubs leave the field untyped.
        kind = cast(ContentType, instance.content_type)
        audit.record(
            action=Action.ADMIN_CHANGE,
            actor=instance.user,
            detail=(
                f"{instance.get_action_flag_display()} "
                f"{kind.app_label}.{kind.model} "
                f"#{instance.object_id}"
            ),
        )
