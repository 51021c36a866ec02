"""Writes of the SMART app: registering and changing clients, spending assertion ids."""

import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application

from telehealth.accounts.models import Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.smart.models import AssertionJti, SmartClient

# Service users are addressed at a reserved domain (RFC 2606): no mail reaches them, and the
# address is never typed by anyone.
SERVICE_EMAIL_DOMAIN = "smart-clients.invalid"


def smart_client_register(*, client: SmartClient, by: User | None) -> SmartClient:
    """Save a new client (practice, name, jwks and scopes set on the unsaved `client`) with its
    OAuth application and its service user.

    The service user is a practice admin of the client's practice, which is the role whose
    selectors read the whole practice (demographics and vitals); it has no usable password,
    no Django admin access and no permissions, and telehealth.smart.backends refuses any
    sign-in as it, so it acts only through the client's access tokens."""
    with transaction.atomic():
        user = User.objects.create_user(
            f"client-{secrets.token_hex(8)}@{SERVICE_EMAIL_DOMAIN}",
            None,  # unusable: there is no password to sign in with
            full_name=f"SMART client: {client.name}"[:200],
            role=Role.PRACTICE_ADMIN,
            practice_id=client.practice_id,
            is_staff=False,
        )
        application = Application.objects.create(
            name=client.name,
            user=user,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            redirect_uris="",
            # Never shown or used: the client authenticates with its signed assertion.
            client_secret=secrets.token_urlsafe(48),
        )
        client.application = application
        client.service_user = user
        client.save()
        audit.record(
            action=Action.CREATE, actor=by, obj=client, detail="SMART backend client registered"
        )
    return client


def smart_client_update(*, client: SmartClient, by: User | None) -> SmartClient:
    """Save a changed client. Deactivating it ends its tokens at once and disables its service
    user; reactivating enables the user again."""
    with transaction.atomic():
        client.save()
        user = client.service_user
        if user.is_active != client.is_active:
            user.is_active = client.is_active
            user.save(update_fields=["is_active"])
        if not client.is_active:
            AccessToken.objects.filter(application_id=client.application_id).delete()
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=client,
            detail="SMART backend client " + ("changed" if client.is_active else "deactivated"),
        )
    return client


def assertion_jti_spend(*, client: SmartClient, jti: str, expires_at: datetime) -> bool:
    """Record the assertion id; False when the client has used it already (a replay). Ids of
    assertions that have expired are forgotten: an expired assertion is refused anyway."""
    with transaction.atomic():
        AssertionJti.objects.filter(expires_at__lt=timezone.now()).delete()
        try:
            with transaction.atomic():
                AssertionJti.objects.create(client=client, jti=jti, expires_at=expires_at)
        except IntegrityError:
            return False
    return True
