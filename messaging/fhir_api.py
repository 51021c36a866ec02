"""messaging in the FHIR API: each message as a Communication, served by telehealth.fhir through
the mapper registered in MessagingConfig.ready. Rows come through
messaging.selectors.messages_visible_to, which scopes them as the inbox and the portal do (the
practice's staff, the clinicians of the care team or of the thread's assignment, the patient
their own) and never gives a patient an internal staff note.

A message is one Communication: sent by the patient, a clinician (Practitioner), other staff or
an automatic reply (the practice, as Organization); received by the practice (the thread's team
named) or by the patient; an internal note goes from staff to the practice. Its text is
decrypted by the model field; attachments are links to messaging's own download route, which
checks access again, never inline data. Threads have no FHIR resource of their own: each
message answers the one before it that its readers can see (inResponseTo), and the thread's
subject is the topic."""

from django.conf import settings
from django.db.models import DateTimeField, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.urls import reverse
from django.utils import translation
from fhir.resources.R4B.communication import Communication

from messaging import selectors
from messaging.models import Attachment, Category, Message, Thread
from telehealth.accounts.models import User
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam, row_id
from telehealth.fhir.search import Token, any_of

CATEGORY_SYSTEM = "urn:telehealth:messaging:category"
PARTICIPATION_MODE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"
ONLINE_WRITTEN = {"system": PARTICIPATION_MODE, "code": "ONLINEWRIT", "display": "online written"}
# v3 has no code for a text message: it is written, by no narrower route the code system names.
WRITTEN = {"system": PARTICIPATION_MODE, "code": "WRITTEN", "display": "written"}
MEDIUM = {
    Message.Via.PORTAL: ({"coding": [ONLINE_WRITTEN], "text": "Patient portal"}),
    Message.Via.WEB_CHAT: ({"coding": [ONLINE_WRITTEN], "text": "Website chat"}),
    Message.Via.SMS: ({"coding": [WRITTEN], "text": "Text message (SMS)"}),
}


def _annotated(messages: QuerySet[Message]) -> QuerySet[Message]:
    """With `last_changed` (the message, or a picture attached to it later, whichever is
    newer) and the ids of the message before it: `previous_public_id` (the previous one a
    patient sees) and `previous_id` (the previous one at all)."""
    in_thread = Message.objects.filter(thread=OuterRef("thread"))
    newest_attachment = (
        Attachment.objects.filter(message=OuterRef("pk"))
        .order_by()
        .values("message")
        .annotate(newest=Max("created_at"))
        .values("newest")
    )
    return messages.annotate(
        last_changed=Greatest(
            "created_at",
            Coalesce(Subquery(newest_attachment, output_field=DateTimeField()), "created_at"),
        ),
        previous_public_id=Subquery(in_thread.filter(seq=OuterRef("prev_public_seq")).values("pk")),
        previous_id=Subquery(in_thread.filter(seq=OuterRef("seq") - 1).values("pk")),
    ).prefetch_related("attachments")


def _practice(thread: Thread) -> dict:
    name = thread.practice.name
    if thread.team is not None:
        name = f"{name}, {thread.team.name}"
    return {"reference": f"Organization/{thread.practice_id}", "display": name}


def _patient(thread: Thread) -> dict:
    return {"reference": f"Patient/{thread.patient_id}"}


def _sender(message: Message) -> dict:
    thread = message.thread
    if message.author_kind == Message.Author.PATIENT:
        return _patient(thread)
    provider = getattr(message.author, "provider", None)
    if provider is not None:
        return {"reference": f"Practitioner/{provider.pk}", "display": provider.display_name}
    # Front desk, admins and automatic replies write on the practice's behalf.
    return {"reference": f"Organization/{thread.practice_id}", "display": thread.practice.name}


def _recipient(message: Message) -> dict:
    if message.author_kind == Message.Author.PATIENT or message.internal:
        return _practice(message.thread)
    return _patient(message.thread)


def attachment_url(attachment: Attachment) -> str:
    return settings.SITE_URL + reverse("messaging:attachment", args=[attachment.pk])


def _payload(message: Message) -> list[dict]:
    payload: list[dict] = []
    if message.body:
        payload.append({"contentString": message.body})
    for attachment in message.attachments.all():
        payload.append(
            {
                "contentAttachment": {
                    "contentType": attachment.content_type,
                    "url": attachment_url(attachment),
                    "size": attachment.size,
                    "title": attachment.name,
                    "creation": registry.instant(attachment.created_at),
                }
            }
        )
    return payload


def _category(thread: Thread) -> dict:
    with translation.override("en"):
        label = str(Category(thread.category).label)
    return {"coding": [{"system": CATEGORY_SYSTEM, "code": thread.category, "display": label}]}


def _pressing(thread: Thread) -> bool:
    return thread.urgent or thread.priority == Thread.Priority.HIGH


def communication_to_fhir(message: Message) -> dict:
    thread = message.thread
    resource: dict = {
        "resourceType": "Communication",
        "id": str(message.pk),
        "meta": {"lastUpdated": registry.instant(message.last_changed)},  # type: ignore[attr-defined]
    }
    previous = message.previous_id if message.internal else message.previous_public_id  # type: ignore[attr-defined]
    if previous is not None:
        resource["inResponseTo"] = [{"reference": f"Communication/{previous}"}]
    resource |= {
        "status": "completed",
        "category": [_category(thread)],
        "priority": "urgent" if _pressing(thread) else "routine",
        "medium": [MEDIUM[Message.Via(message.via)]],
        "subject": _patient(thread),
        "topic": {"text": thread.subject},
        "sent": registry.instant(message.created_at),
        "recipient": [_recipient(message)],
        "sender": _sender(message),
    }
    payload = _payload(message)
    if payload:
        resource["payload"] = payload
    return resource


def communication_lookup(user: User, resource_id: str) -> Message:
    message_id = row_id(resource_id)
    if message_id is None:
        raise Http404
    found = _annotated(selectors.messages_visible_to(user)).filter(pk=message_id).first()
    if found is None:
        raise Http404
    return found


def _patient_q(raw: str) -> Q:
    patient_id = row_id(raw)
    return Q(pk__in=[]) if patient_id is None else Q(thread__patient_id=patient_id)


def _category_q(token: Token) -> Q:
    if token.system not in (None, CATEGORY_SYSTEM):
        return Q(pk__in=[])
    return Q(thread__category=token.code)


def communication_search(user: User, params: dict) -> QuerySet[Message]:
    rows = _annotated(selectors.messages_visible_to(user))
    for name in ("patient", "subject"):
        for values in params.get(name, []):
            rows = rows.filter(any_of(values, _patient_q))
    for values in params.get("category", []):
        rows = rows.filter(any_of(values, _category_q))
    for values in params.get("sent", []):
        rows = rows.filter(any_of(values, lambda value: value.q("created_at")))
    return rows


communication_mapper = Mapper(
    resource_type="Communication",
    model=Communication,
    lookup=communication_lookup,
    to_fhir=communication_to_fhir,
    search=communication_search,
    params={
        "patient": SearchParam(REFERENCE, "The patient the conversation is with (Patient/id)"),
        "subject": SearchParam(REFERENCE, "The patient the conversation is with (Patient/id)"),
        "sent": SearchParam(DATE, "When the message was sent"),
        "category": SearchParam(TOKEN, f"The conversation's category ({CATEGORY_SYSTEM}|code)"),
    },
    last_updated="last_changed",
    phi_patient=lambda message: message.thread.patient,
    patient_path="thread__patient_id",
)


def register() -> None:
    registry.register(communication_mapper)
