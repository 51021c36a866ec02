"""Messaging JSON API: a user's threads, a thread's messages after a sequence number (the
same catch-up as the socket), and posting a message. Thin over selectors and services."""

from datetime import datetime

from django.http import Http404
from ninja import Router, Schema
from ninja.errors import HttpError

from messaging import selectors, services
from messaging.models import Thread
from telehealth.accounts.models import Role
from telehealth.audit.phi import note_phi_access

router = Router(tags=["messaging"])


class ThreadOut(Schema):
    id: int
    patient_id: int
    subject: str
    category: str
    status: str
    urgent: bool
    last_seq: int
    last_message_at: datetime


class AttachmentOut(Schema):
    id: int
    name: str
    type: str
    size: int
    url: str


class MessageOut(Schema):
    seq: int
    id: int
    author_kind: str
    author: str
    body: str
    internal: bool
    via: str
    at: datetime
    attachments: list[AttachmentOut]


class MessageIn(Schema):
    body: str
    internal: bool = False


def _thread_out(thread: Thread, *, patient: bool) -> dict:
    return {
        "id": thread.pk,
        "patient_id": thread.patient_id,
        "subject": thread.subject,
        "category": thread.category,
        "status": thread.status,
        "urgent": thread.urgent,
        # A patient's sequence ends at the newest message they may see: internal notes take
        # numbers too, and counting them would tell the patient that staff wrote one.
        "last_seq": thread.last_public_seq if patient else thread.last_seq,
        "last_message_at": thread.last_message_at,
    }


@router.get("/threads", response=list[ThreadOut])
def thread_list(request, limit: int = 50):
    threads = list(selectors.threads_visible_to(request.user)[: max(1, min(limit, 200))])
    for thread in threads:
        note_phi_access(request, thread)
    patient = request.user.role == Role.PATIENT
    return [_thread_out(t, patient=patient) for t in threads]


@router.get("/threads/{thread_id}/messages", response=list[MessageOut])
def message_list(request, thread_id: int, after: int = 0):
    thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    note_phi_access(request, thread)
    messages = selectors.messages_for(user=request.user, thread=thread, after=max(after, 0))
    return [services.message_event(m) for m in messages[:500]]


@router.post("/threads/{thread_id}/messages", response={201: MessageOut})
def message_create(request, thread_id: int, payload: MessageIn):
    try:
        thread = selectors.access_thread(user=request.user, thread_id=thread_id)
    except Http404 as exc:
        raise HttpError(404, "No such thread.") from exc
    try:
        message = services.message_post(
            thread=thread,
            by=request.user,
            body=payload.body,
            internal=payload.internal,
            request=request,
        )
    except services.MessagingError as error:
        raise HttpError(error.status_code, error.message) from error
    return 201, services.message_event(message)
