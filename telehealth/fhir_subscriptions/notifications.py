"""The notification we POST: an R4 Bundle of type history shaped by the Subscriptions R5
Backport IG (https://hl7.org/fhir/uv/subscriptions-backport/), whose first entry is the
SubscriptionStatus Parameters. Payload content is `id-only`: the Bundle names the changed
resource and carries none of it, so no PHI leaves in a notification; the receiver reads the
resource through the FHIR API with its own credentials.

And its signature: HMAC-SHA256 over "<unix time>." + body, sent as
`X-Telehealth-Signature: t=<unix time>,v1=<hex digest>` (docs/fhir-notifications.md)."""

import hashlib
import hmac
import json
import uuid
from datetime import datetime

from django.conf import settings
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
SIGNATURE_HEADER = "X-Telehealth-Signature"
CONTENT_TYPE = "application/fhir+json"


def fhir_base() -> str:
    return f"{settings.SITE_URL}/fhir/R4"


def subscription_url(key: str) -> str:
    return f"{fhir_base()}/Subscription/{key}"


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_parameters(
    *,
    subscription_key: str,
    topic_url: str,
    kind: str,
    events_since_start: int,
    status: str = "active",
    event_number: int | None = None,
    timestamp: datetime | None = None,
    focus: str = "",
) -> dict:
    """The SubscriptionStatus (as R4 Parameters). `status` is the subscription's, in the
    IG's codes (requested, active, error, off). Event counts travel as strings: the profile
    types them so because R4 has no 64-bit integer."""
    parameters: list[dict] = [
        {
            "name": "subscription",
            "valueReference": {"reference": subscription_url(subscription_key)},
        },
        {"name": "topic", "valueCanonical": topic_url},
        {"name": "status", "valueCode": status},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    if event_number is not None and timestamp is not None:
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(event_number)},
                    {"name": "timestamp", "valueInstant": _instant(timestamp)},
                    {"name": "focus", "valueReference": {"reference": f"{fhir_base()}/{focus}"}},
                ],
            }
        )
    resource = {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }
    return Parameters.model_validate(resource).model_dump(mode="json", exclude_none=True)


def notification_bundle(
    *, status: dict, subscription_key: str, timestamp: datetime, focus: str = ""
) -> dict:
    """The Bundle around a SubscriptionStatus; with `focus` ("Appointment/12") an id-only entry
    for the changed resource. A history Bundle needs request and response on every entry
    (bdl-3, bdl-4): the status entry's match a $status call, as the IG's examples do."""
    entries: list[dict] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"{subscription_url(subscription_key)}/$status"},
            "response": {"status": "200"},
        }
    ]
    if focus:
        entries.append(
            {
                "fullUrl": f"{fhir_base()}/{focus}",
                "request": {"method": "PUT", "url": focus},
                "response": {"status": "200"},
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _instant(timestamp),
        "entry": entries,
    }
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


def body_of(bundle: dict) -> str:
    return json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"
