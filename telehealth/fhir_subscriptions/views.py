"""The practice admin's page for FHIR change notifications: register an endpoint (its signing
secret shown once), send a test notification, pause or resume."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from telehealth.accounts.access import practice_admin_required
from telehealth.fhir_subscriptions import notifications, selectors, services
from telehealth.fhir_subscriptions.forms import SubscriptionForm
from telehealth.fhir_subscriptions.models import NotificationSubscription
from telehealth.fhir_subscriptions.topics import TOPICS


def _list_page(request, form: SubscriptionForm, status: int = 200):
    return render(
        request,
        "fhir_subscriptions/list.html",
        {
            "subscriptions": selectors.subscriptions_of(request.user),
            "form": form,
            "topics": TOPICS.values(),
            "signature_header": notifications.SIGNATURE_HEADER,
        },
        status=status,
    )


@practice_admin_required
@require_http_methods(["GET", "POST"])
def subscriptions(request):
    if request.method == "GET":
        return _list_page(request, SubscriptionForm())
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        subscription, secret = services.subscription_create(
            practice=request.user.practice, by=request.user, request=request, **form.cleaned_data
        )
    except services.SubscriptionError as error:
        form.add_error("endpoint", str(error))
        return _list_page(request, form, status=400)
    # Rendered, not redirected: the secret is in this response and stored nowhere readable.
    return render(
        request,
        "fhir_subscriptions/secret.html",
        {
            "subscription": subscription,
            "secret": secret,
            "signature_header": notifications.SIGNATURE_HEADER,
        },
    )


@practice_admin_required
def subscription(request, subscription_id: int):
    found = selectors.access_subscription(user=request.user, subscription_id=subscription_id)
    return render(
        request,
        "fhir_subscriptions/detail.html",
        {
            "subscription": found,
            "topics": [TOPICS[key] for key in found.topics if key in TOPICS],
            "deliveries": selectors.recent_deliveries(found),
            "Status": NotificationSubscription.Status,
        },
    )


@practice_admin_required
@require_POST
def handshake(request, subscription_id: int):
    found = selectors.access_subscription(user=request.user, subscription_id=subscription_id)
    services.handshake_queue(subscription=found, by=request.user, request=request)
    messages.success(request, _("Test notification queued. Its result appears below."))
    return redirect("fhir_subscriptions:detail", subscription_id=found.pk)


@practice_admin_required
@require_POST
def set_status(request, subscription_id: int):
    found = selectors.access_subscription(user=request.user, subscription_id=subscription_id)
    status = request.POST.get("status", "")
    try:
        services.subscription_set_status(
            subscription=found, status=status, by=request.user, request=request
        )
    except services.SubscriptionError as error:
        messages.error(request, str(error))
    else:
        if status == NotificationSubscription.Status.PAUSED:
            messages.success(request, _("Notifications paused."))
        else:
            messages.success(request, _("Notifications active."))
    return redirect("fhir_subscriptions:detail", subscription_id=found.pk)
