"""The doors to subscriptions: a practice admin sees their own practice's, nobody else any."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from telehealth.accounts.models import User
from telehealth.fhir_subscriptions.models import Delivery, NotificationSubscription


def subscriptions_of(user: User) -> QuerySet[NotificationSubscription]:
    if not user.is_practice_admin or user.practice_id is None:
        return NotificationSubscription.objects.none()
    return NotificationSubscription.objects.filter(practice_id=user.practice_id).order_by("name")


def access_subscription(*, user: User, subscription_id: int) -> NotificationSubscription:
    return get_object_or_404(subscriptions_of(user), pk=subscription_id)


def recent_deliveries(subscription: NotificationSubscription, limit: int = 20) -> list[Delivery]:
    return list(subscription.deliveries.defer("body").order_by("-created_at", "-id")[:limit])
