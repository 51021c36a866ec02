"""Twilio webhooks: inbound texts and delivery status. Both verify Twilio's signature."""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from twilio.request_validator import RequestValidator

from telehealth.accounts.access import role_required
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access, phi_view
from telehealth.net import client_address
from telehealth.notify import inbound, selectors, services
from telehealth.notify.media import media_from_webhook
from telehealth.notify.models import OutboundMessage, RejectedWebhook, StatusCallback

logger = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
Status = OutboundMessage.Status

# Twilio's delivery states, mapped onto ours; later states never move a row backwards.
TWILIO_STATUS = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
}


def _signature_problem(request) -> str:
    if not settings.TWILIO_AUTH_TOKEN:
        return "TWILIO_AUTH_TOKEN is not configured"
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return "missing X-Twilio-Signature"
    # The URL Twilio signed is the public one, not what the proxy passed on.
    url = settings.SITE_URL + request.get_full_path()
    params = {key: request.POST.get(key) for key in request.POST}
    if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, params, signature):
        return "signature does not match"
    return ""


def _refuse(request, reason: str):
    RejectedWebhook.objects.create(
        path=request.path[:200], reason=reason[:200], ip=client_address(request)
    )
    logger.warning("Refused Twilio webhook on %s: %s", request.path, reason)
    return HttpResponseForbidden("Signature check failed.")


@csrf_exempt
@require_POST
def twilio_sms(request):
    problem = _signature_problem(request)
    if problem:
        return _refuse(request, problem)
    sid = request.POST.get("MessageSid", "")
    sender = request.POST.get("From", "")
    if not sid or not sender:
        return HttpResponse("MessageSid and From are required.", status=400)
    inbound.receive(
        message_sid=sid[:64],
        from_phone=sender[:20],
        to_phone=request.POST.get("To", ""),
        body=request.POST.get("Body", ""),
        media=media_from_webhook(request.POST),
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@csrf_exempt
@require_POST
def twilio_status(request):
    problem = _signature_problem(request)
    if problem:
        return _refuse(request, problem)
    sid = request.POST.get("MessageSid", "")[:64]
    reported = request.POST.get("MessageStatus", "")[:20]
    if not sid or not reported:
        return HttpResponse("MessageSid and MessageStatus are required.", status=400)
    new_status = TWILIO_STATUS.get(reported)
    try:
        with transaction.atomic():
            StatusCallback.objects.create(message_sid=sid, status=reported)
            if new_status is not None:
                _apply_status(sid, new_status, request.POST.get("ErrorCode", ""))
    except IntegrityError:
        pass  # the same report again: it already had its effect
    return HttpResponse(status=204)


def _apply_status(sid: str, status: str, error_code: str) -> None:
    rows = OutboundMessage.objects.filter(provider_message_id=sid)
    if status == Status.DELIVERED:
        rows.filter(status__in=[Status.SENT, Status.SENDING]).update(
            status=Status.DELIVERED, delivered_at=timezone.now()
        )
    elif status == Status.FAILED:
        rows.exclude(status=Status.DELIVERED).update(
            status=Status.FAILED, last_error=f"Carrier reported failure {error_code}"[:300]
        )


@role_required(Role.FRONT_DESK, Role.PRACTICE_ADMIN)
@phi_view
@require_http_methods(["GET", "POST"])
def unrouted_texts(request):
    """Texts no handler answered, for the front desk to read and follow up."""
    if request.method == "POST":
        message = get_object_or_404(
            selectors.unrouted_texts(user=request.user), pk=request.POST.get("message", "0")
        )
        services.inbound_mark_reviewed(message=message, by=request.user)
        return redirect("notify:unrouted")
    texts = list(selectors.unrouted_texts(user=request.user)[:200])
    for text in texts:
        note_phi_access(request, text, patient=text.patient)
    return render(request, "notify/unrouted.html", {"texts": texts})
