"""Writing to the outbox, choosing wording, and SMS consent (opt-in and opt-out).

Every enqueue runs in the caller's transaction; one nudge per transaction asks a worker to
dispatch right after commit (beat also dispatches every few seconds)."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.html import escape

from telehealth.accounts.models import Patient, Practice, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.crypto.keys import blind_index
from telehealth.notify import wording
from telehealth.notify.models import MessageTemplate, OutboundMessage, PhoneOptOut

Status = OutboundMessage.Status


def practice_wording(practice: Practice) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Every template a practice overrides, read once."""
    return {
        (key, channel, language): (subject, body)
        for key, channel, language, subject, body in MessageTemplate.objects.filter(
            practice=practice
        ).values_list("key", "channel", "language", "subject", "body")
    }


def wording_for(
    *,
    practice: Practice,
    key: str,
    channel: str,
    language: str,
    overrides: dict | None = None,
) -> tuple[str, str]:
    """(subject, body) for a message: the practice's own wording, else the built-in one, in
    the patient's language, else English."""
    if overrides is None:
        overrides = practice_wording(practice)
    for lang in dict.fromkeys([language, "en"]):
        found = overrides.get((key, channel, lang)) or wording.BUILT_IN.get((key, channel, lang))
        if found:
            return found
    raise KeyError(f"No wording for {key}/{channel}")


LINK = re.compile(r"(https?://[^\s<]+)")


def html_from_text(text: str) -> str:
    """The HTML part of an email: the text's paragraphs, with its links clickable."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    inner = "".join(
        "<p>" + LINK.sub(r'<a href="\1">\1</a>', str(escape(p))).replace("\n", "<br>") + "</p>"
        for p in paragraphs
    )
    return (
        '<!doctype html><html><body style="font-family:sans-serif;line-height:1.5">'
        f"{inner}</body></html>"
    )


class NotToSend(Exception):
    """The object a message is about no longer wants it sent (say, a visit since cancelled)."""


@dataclass(frozen=True)
class SendTimeContent:
    """What a message rendered at send time is made of, read when it goes: its patient (with
    their practice), the merge tokens, and for an email that carries one, its calendar file."""

    patient: Patient
    context: dict[str, str]
    ics: str = ""


# Where a message rendered at send time comes from, per related type: given the queued row
# (its related id, template and channel), what to render it from, read now.
SendTimeSource = Callable[[OutboundMessage], SendTimeContent]
_send_time_sources: dict[str, SendTimeSource] = {}


def send_time_source_register(related_type: str, source: SendTimeSource) -> None:
    """Called from an app's `AppConfig.ready`: the app that queues messages rendered at send
    time says how to read their content then."""
    _send_time_sources[related_type] = source


def render_for_send(message: OutboundMessage) -> None:
    """Fill in the subject, body (and calendar file) of a message queued with
    `render_at_send`, in the patient's language of the moment. Raises NotToSend when its
    object says not to send."""
    source = _send_time_sources.get(message.related_type)
    if source is None:
        raise NotToSend(f"Nothing renders messages about {message.related_type or 'nothing'}")
    content = source(message)
    patient, context = content.patient, content.context
    if message.patient_id is not None and patient.pk != message.patient_id:
        # The text goes to the row's address: never one patient's visit to another's phone.
        raise NotToSend("The message's patient is no longer the visit's patient")
    subject, body = wording_for(
        practice=patient.practice,
        key=message.template,
        channel=message.channel,
        language=patient.preferred_language,
    )
    text = wording.render(body, context)
    message.subject = wording.render(subject, context)
    message.body = text
    is_email = message.channel == wording.EMAIL
    message.html_body = html_from_text(text) if is_email else ""
    message.ics_attachment = content.ics if is_email else ""


def sms_allowed(patient: Patient) -> bool:
    return bool(
        patient.sms_consent
        and patient.phone
        and not PhoneOptOut.objects.filter(phone_index=patient.phone_index).exists()
    )


def patient_channel(patient: Patient, *, sms_ok: bool | None = None) -> str | None:
    """The one channel for a message the patient must get once (their visit's join link): the
    one they chose, if it reaches them; else email, else text; None when nothing does. A
    patient who chose the portal has no portal notice for this, so email or text it is.
    `sms_ok`: `sms_allowed(patient)` if the caller already asked."""
    if sms_ok is None:
        sms_ok = sms_allowed(patient)
    reachable = {wording.SMS: sms_ok, wording.EMAIL: bool(patient.email)}
    for channel in (patient.preferred_channel, wording.EMAIL, wording.SMS):
        if reachable.get(channel):
            return channel
    return None


def message_enqueue(
    *,
    channel: str,
    template: str,
    body: str,
    dedupe_key: str,
    patient: Patient | None = None,
    staff: User | None = None,
    subject: str = "",
    html_body: str = "",
    ics: str = "",
    send_at: datetime | None = None,
    related: models.Model | None = None,
) -> OutboundMessage | None:
    """Queue one message in the caller's transaction. A repeated dedupe key queues nothing
    and returns None, so a retried cause never sends twice."""
    send_at = send_at or timezone.now()
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                channel=channel,
                template=template,
                body=body,
                subject=subject,
                html_body=html_body,
                ics_attachment=ics,
                dedupe_key=dedupe_key,
                patient=patient,
                staff=staff,
                send_at=send_at,
                related_type=related._meta.label if related is not None else "",
                related_id=str(related.pk) if related is not None else "",
            )
    except IntegrityError:
        if OutboundMessage.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    if send_at <= timezone.now():
        nudge_on_commit()
    return message


def patient_message_enqueue(
    *,
    patient: Patient,
    channel: str,
    key: str,
    context: dict[str, str],
    dedupe_key: str,
    related: models.Model | None = None,
    send_at: datetime | None = None,
    ics: str = "",
) -> OutboundMessage | None:
    """Render a template in the patient's language and queue it, if the patient can be
    reached on that channel (SMS needs consent and no opt-out)."""
    if channel == wording.SMS and not sms_allowed(patient):
        return None
    if channel == wording.EMAIL and not patient.email:
        return None
    subject, body = wording_for(
        practice=patient.practice, key=key, channel=channel, language=patient.preferred_language
    )
    text = wording.render(body, context)
    return message_enqueue(
        channel=channel,
        template=key,
        patient=patient,
        dedupe_key=dedupe_key,
        related=related,
        send_at=send_at,
        ics=ics,
        subject=wording.render(subject, context),
        body=text,
        html_body=html_from_text(text) if channel == wording.EMAIL else "",
    )


@dataclass(frozen=True)
class Planned:
    """One message of a batch for `patient_messages_enqueue`."""

    channel: str
    key: str
    dedupe_key: str
    send_at: datetime | None = None
    ics: str = ""
    # Rendered by the dispatcher when sent (`render_for_send`), not now: `related` must be set
    # and its type have a send-time source.
    render_at_send: bool = False


def patient_messages_enqueue(
    *,
    patient: Patient,
    planned: list[Planned],
    context: dict[str, str] | None = None,
    related: models.Model | None = None,
    sms_ok: bool | None = None,
    overrides: dict[tuple[str, str, str], tuple[str, str]] | None = None,
) -> int:
    """Queue several messages to one patient with one INSERT (an appointment's confirmation
    and reminders). Channels the patient cannot be reached on are skipped; repeated dedupe
    keys are ignored. Returns how many rows were offered to the database. `context`: the
    tokens of the messages rendered now (none needed when all are rendered at send time).
    `sms_ok` and `overrides`: `sms_allowed(patient)` and `practice_wording(...)` if the caller
    has them."""
    reachable = {
        wording.SMS: sms_allowed(patient) if sms_ok is None else sms_ok,
        wording.EMAIL: bool(patient.email),
    }
    now = timezone.now()
    rows = []
    for item in planned:
        if not reachable[item.channel]:
            continue
        row = OutboundMessage(
            channel=item.channel,
            template=item.key,
            patient=patient,
            ics_attachment=item.ics,
            dedupe_key=item.dedupe_key,
            send_at=item.send_at or now,
            render_at_send=item.render_at_send,
            related_type=related._meta.label if related is not None else "",
            related_id=str(related.pk) if related is not None else "",
        )
        if not item.render_at_send:
            if context is None:
                raise ValueError(f"{item.key} is rendered now and needs a context")
            if overrides is None:
                overrides = practice_wording(patient.practice)
            subject, body = wording_for(
                practice=patient.practice,
                key=item.key,
                channel=item.channel,
                language=patient.preferred_language,
                overrides=overrides,
            )
            row.body = wording.render(body, context)
            row.subject = wording.render(subject, context)
            if item.channel == wording.EMAIL:
                row.html_body = html_from_text(row.body)
        rows.append(row)
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)
    if any(row.send_at <= now for row in rows):
        nudge_on_commit()
    return len(rows)


@dataclass(frozen=True)
class Notice:
    """One patient's message of a batch for `patient_notices_enqueue`."""

    patient: Patient
    dedupe_key: str  # the channel is appended
    context: dict[str, str]
    related: models.Model | None = None


def patient_notices_enqueue(*, practice: Practice, key: str, notices: list[Notice]) -> int:
    """Queue the same message (`key`) to many patients of one practice, each on the one
    channel that reaches them (`patient_channel`), with one INSERT: opt-outs are read in one
    query and the practice's wording once, so the cost does not grow with the list. Patients
    nothing reaches are skipped; repeated dedupe keys are ignored. Returns how many rows were
    offered to the database."""
    texted = {n.patient.phone_index for n in notices if n.patient.sms_consent and n.patient.phone}
    opted_out = set(
        PhoneOptOut.objects.filter(phone_index__in=texted).values_list("phone_index", flat=True)
    )
    overrides = practice_wording(practice)
    now = timezone.now()
    rows = []
    for notice in notices:
        patient = notice.patient
        sms_ok = bool(
            patient.sms_consent and patient.phone and patient.phone_index not in opted_out
        )
        channel = patient_channel(patient, sms_ok=sms_ok)
        if channel is None:
            continue
        subject, body = wording_for(
            practice=practice,
            key=key,
            channel=channel,
            language=patient.preferred_language,
            overrides=overrides,
        )
        text = wording.render(body, notice.context)
        related = notice.related
        rows.append(
            OutboundMessage(
                channel=channel,
                template=key,
                patient=patient,
                dedupe_key=f"{notice.dedupe_key}:{channel}",
                send_at=now,
                related_type=related._meta.label if related is not None else "",
                related_id=str(related.pk) if related is not None else "",
                subject=wording.render(subject, notice.context),
                body=text,
                html_body=html_from_text(text) if channel == wording.EMAIL else "",
            )
        )
    OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        nudge_on_commit()
    return len(rows)


def _nudge() -> None:
    from telehealth.notify import tasks

    tasks.dispatch_outbox.delay()


def nudge_on_commit() -> None:
    """Ask a worker to dispatch right after commit, once per transaction however many rows it
    queued (beat dispatches every few seconds anyway)."""
    # Entries are (savepoint ids, func, robust); django-stubs declare pairs.
    if any(entry[1] is _nudge for entry in connection.run_on_commit):
        return
    transaction.on_commit(_nudge)


def messages_cancel(*, related: models.Model, template_prefix: str = "") -> int:
    """Cancel queued messages about an object (say, reminders of a cancelled appointment)."""
    return OutboundMessage.objects.filter(
        related_type=related._meta.label,
        related_id=str(related.pk),
        status=Status.QUEUED,
        template__startswith=template_prefix,
    ).update(status=Status.CANCELLED)


def sms_opt_out(*, phone: str, source: str, request=None) -> int:
    """Stop all texts to a number at once: record the opt-out, withdraw consent of every
    patient with it, and suppress what is queued. Returns how many patients it touched."""
    index = blind_index(phone)
    with transaction.atomic():
        PhoneOptOut.objects.get_or_create(phone_index=index, defaults={"source": source})
        patients = list(Patient.objects.filter(phone_index=index))
        for patient in patients:
            if patient.sms_consent:
                patient.sms_consent = False
                patient.save(update_fields=["sms_consent", "updated_at"])
            audit.record(
                action=Action.UPDATE, obj=patient, request=request, detail=f"SMS opt-out ({source})"
            )
        OutboundMessage.objects.filter(
            patient__in=patients, channel=wording.SMS, status=Status.QUEUED
        ).update(status=Status.SUPPRESSED, last_error="Recipient opted out")
    return len(patients)


def sms_opt_in(*, phone: str, source: str, request=None) -> int:
    index = blind_index(phone)
    with transaction.atomic():
        PhoneOptOut.objects.filter(phone_index=index).delete()
        patients = list(Patient.objects.filter(phone_index=index))
        for patient in patients:
            patient.sms_consent = True
            patient.sms_consent_at = timezone.now()
            patient.save(update_fields=["sms_consent", "sms_consent_at", "updated_at"])
            audit.record(
                action=Action.UPDATE, obj=patient, request=request, detail=f"SMS opt-in ({source})"
            )
    return len(patients)


def inbound_mark_reviewed(*, message, by: User) -> None:
    with transaction.atomic():
        message.reviewed_at = timezone.now()
        message.save(update_fields=["reviewed_at"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=message,
            patient=message.patient,
            detail="unrouted text reviewed",
        )
