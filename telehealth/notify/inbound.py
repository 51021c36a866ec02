"""Inbound texts: the opt-out keywords are answered here; everything else is offered to
handlers that higher apps register in `AppConfig.ready` (scheduling: C/N/R; messaging, later:
conversations). A text no handler takes is kept as "unrouted" for the front desk."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from telehealth.accounts.display import format_phone
from telehealth.accounts.models import Patient
from telehealth.crypto.keys import blind_index
from telehealth.notify import services
from telehealth.notify.media import Media
from telehealth.notify.models import InboundMessage


@dataclass(frozen=True)
class Inbound:
    message: InboundMessage
    phone: str
    body: str
    keyword: str  # the first word, upper-cased
    patients: list[Patient]
    media: tuple[Media, ...] = field(default=())  # pictures texted with it (MMS)


logger = logging.getLogger(__name__)

# A handler returns the name it answered as ("scheduling.confirm"), or "" to pass.
Handler = Callable[[Inbound], str]
_handlers: list[tuple[str, Handler]] = []

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO", "AYUDA"}


def register(name: str, handler: Handler) -> None:
    """Join the inbound chain (idempotent per name, so app reloads do not double up)."""
    if all(existing != name for existing, _ in _handlers):
        _handlers.append((name, handler))


def receive(
    *, message_sid: str, from_phone: str, to_phone: str, body: str, media: Sequence[Media] = ()
) -> InboundMessage:
    """Store and answer one inbound text (with the pictures it lists, not yet fetched: a
    handler that keeps the text fetches them later). The same MessageSid a second time does
    nothing."""
    index = blind_index(from_phone)
    patients = list(Patient.objects.filter(phone_index=index).select_related("practice"))
    with transaction.atomic():
        try:
            with transaction.atomic():
                message = InboundMessage.objects.create(
                    message_sid=message_sid,
                    from_phone=from_phone,
                    from_index=index,
                    to_phone=to_phone[:20],
                    body=body[:1600],
                    media=[{"url": m.url, "content_type": m.content_type} for m in media],
                    patient=patients[0] if len(patients) == 1 else None,
                    practice=_one_practice(patients),
                )
        except IntegrityError:
            return InboundMessage.objects.get(message_sid=message_sid)
        words = body.strip().split()
        keyword = words[0].upper() if words else ""
        inbound = Inbound(message, from_phone, body, keyword, patients, tuple(media))
        message.handled_by = _answer(inbound)
        message.save(update_fields=["handled_by"])
    return message


def _one_practice(patients: list[Patient]):
    practices = {p.practice_id for p in patients}
    return patients[0].practice if len(practices) == 1 else None


def _answer(inbound: Inbound) -> str:
    keyword = inbound.keyword
    if keyword in STOP_WORDS:
        services.sms_opt_out(phone=inbound.phone, source="sms keyword")
        return "notify.opt_out"  # the carrier sends the STOP confirmation itself
    if keyword in START_WORDS:
        services.sms_opt_in(phone=inbound.phone, source="sms keyword")
        reply(inbound, "sms.opted_in")
        return "notify.opt_in"
    if keyword in HELP_WORDS:
        reply(inbound, "sms.help")
        return "notify.help"
    for name, handler in _handlers:
        try:
            with transaction.atomic():
                answered = handler(inbound)
        except Exception:  # a failing handler must not lose the text: staff will see it
            logger.exception("Inbound handler %s failed on %s", name, inbound.message.message_sid)
            continue
        if answered:
            return answered
    return "unrouted"


def practice_context(patient: Patient) -> dict[str, str]:
    return {
        "patient_first_name": patient.first_name,
        "practice_name": patient.practice.name,
        "practice_phone": format_phone(patient.practice.phone, region=patient.practice.country),
        "rebook_link": f"{settings.SITE_URL}/book/{patient.practice.slug}/",
    }


def reply(inbound: Inbound, key: str, context: dict[str, str] | None = None) -> None:
    """Answer by text through the outbox, once per inbound message."""
    for stale in inbound.patients[:1]:
        patient = Patient.objects.select_related("practice").get(pk=stale.pk)  # consent may
        # have changed while this text was handled (START)
        services.patient_message_enqueue(
            patient=patient,
            channel="sms",
            key=key,
            context={**practice_context(patient), **(context or {})},
            dedupe_key=f"inbound:{inbound.message.message_sid}:reply",
        )
