"""Writes of messaging: starting threads, posting messages (with the urgent-symptom guard, the
practice's rules and the after-hours reply), the SMS bridge out, reads, assignment, status,
and bulk messages. Live events go out through broadcast_on_commit:

- `thread.<id>` carries what the patient may see; `thread.<id>.staff` carries internal notes
  and staff-only events; a patient's socket never joins the staff group.
- `inbox.<practice_id>` tells staff inboxes that a thread changed."""

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from messaging import attachments as attachment_files
from messaging import search
from messaging.models import (
    Attachment,
    Category,
    MediaFetch,
    Message,
    MessagingSettings,
    Origin,
    ReadPosition,
    Rule,
    Team,
    Thread,
)
from telehealth.accounts import services as account_services
from telehealth.accounts.models import Patient, Practice, Role, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify import services as notify
from telehealth.notify import wording
from telehealth.notify.inbound import practice_context
from telehealth.notify.media import Media
from telehealth.ratelimit import forgive, over_limit
from telehealth.realtime import broadcast_on_commit, user_group

MAX_BODY = 5000
MAX_SUBJECT = 150
AFTER_HOURS_QUIET = timedelta(hours=12)  # one after-hours reply per thread per closed spell
SMS_THREAD_DAYS = 30  # a text continues the patient's latest open thread this recent
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MessagingError(Exception):
    """A post or change refused, with a message for the person who tried."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MessagingForbidden(MessagingError):
    status_code = 403


class MessagingRateLimited(MessagingError):
    status_code = 429


RATE_WINDOW = 60  # seconds; settings.MESSAGING_RATE posts per window per user
NEW_THREADS_PER_DAY = 10  # conversations a patient may start themselves per day
NEW_THREAD_WINDOW = 86400


def thread_group(thread_id: int) -> str:
    return f"thread.{thread_id}"


def staff_group(thread_id: int) -> str:
    return f"thread.{thread_id}.staff"


def inbox_group(practice_id: int) -> str:
    return f"inbox.{practice_id}"


def settings_for(practice: Practice) -> MessagingSettings:
    found = MessagingSettings.objects.filter(practice=practice).first()
    return found or MessagingSettings(practice=practice)


# --- Checks on a patient's words -----------------------------------------------------------


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("’", "'")).strip()


def emergency_terms_in(text: str, practice: Practice) -> list[str]:
    """The practice's emergency terms found in the text (whole words, any case)."""
    text = _normalise(text)
    return [
        term
        for term in settings_for(practice).terms
        if re.search(rf"(?<!\w){re.escape(_normalise(term))}(?!\w)", text)
    ]


def is_open(practice: Practice, at: datetime) -> bool:
    """Whether `at` falls in the practice's business hours ({"mon": [["08:00", "17:00"]]}).
    A practice that set no hours is always open: no after-hours replies."""
    hours = practice.business_hours or {}
    if not hours:
        return True
    local = at.astimezone(practice.zone)
    now = local.strftime("%H:%M")
    return any(start <= now < end for start, end in hours.get(DAYS[local.weekday()], []))


def matching_rules(practice: Practice, text: str) -> list[Rule]:
    text = _normalise(text)
    return [
        rule
        for rule in Rule.objects.filter(practice=practice, is_active=True)
        if any(
            re.search(rf"(?<!\w){re.escape(_normalise(str(k)))}(?!\w)", text)
            for k in rule.keywords
            if str(k).strip()
        )
    ]


# --- Posting -------------------------------------------------------------------------------


def _clean_body(body: str, *, allow_empty: bool = False) -> str:
    body = (body or "").strip()
    if not body and not allow_empty:
        raise MessagingError(_("Write a message first."))
    if len(body) > MAX_BODY:
        raise MessagingError(_("Messages are limited to 5,000 characters."))
    return body


def thread_start(
    *,
    patient: Patient,
    subject: str,
    body: str,
    category: str = Category.OTHER,
    origin: str = Origin.PORTAL,
    by: User | None = None,
    files: Sequence[UploadedFile] = (),
    media: Sequence[Media] = (),
    request: HttpRequest | None = None,
) -> tuple[Thread, Message]:
    """A new conversation. Patients start portal threads (or SMS and website chat start them
    for the patient); staff start one to reach a patient. A patient starting one themselves
    is held to NEW_THREADS_PER_DAY."""
    subject = (subject or "").strip()[:MAX_SUBJECT] or _("Message")
    if category not in Category.values:
        raise MessagingError(_("Choose a category."))
    body = _clean_body(body, allow_empty=bool(files or media))
    limited = by is not None and by.role == Role.PATIENT
    rate_key = f"new-thread:{patient.pk}"
    if limited and over_limit(rate_key, limit=NEW_THREADS_PER_DAY, window=NEW_THREAD_WINDOW):
        raise MessagingRateLimited(_("You have started many conversations today. Reply in one."))
    try:
        return _thread_create(
            patient=patient,
            subject=subject,
            body=body,
            category=category,
            origin=origin,
            by=by,
            files=files,
            media=media,
            request=request,
        )
    except MessagingError:
        if limited:
            forgive(rate_key, window=NEW_THREAD_WINDOW)  # a refused start does not use up a try
        raise


def _thread_create(
    *,
    patient: Patient,
    subject: str,
    body: str,
    category: str,
    origin: str,
    by: User | None,
    files: Sequence[UploadedFile],
    media: Sequence[Media],
    request: HttpRequest | None,
) -> tuple[Thread, Message]:
    from_staff = origin == Origin.STAFF
    with transaction.atomic():
        thread = Thread.objects.create(
            practice_id=patient.practice_id,
            patient=patient,
            subject=subject,
            category=category,
            origin=origin,
            status=Thread.Status.PENDING if from_staff else Thread.Status.OPEN,
        )
        search.index(thread=thread, text=subject)
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=thread,
            patient=patient,
            request=request,
            detail="message thread started",
        )
        vias: dict[str, str] = {Origin.SMS: Message.Via.SMS, Origin.WEB_CHAT: Message.Via.WEB_CHAT}
        via = vias.get(origin, Message.Via.PORTAL)
        message = _message_add(
            thread=thread,
            body=body,
            by=by,
            author_kind=Message.Author.STAFF if from_staff else Message.Author.PATIENT,
            via=via,
            files=files,
            media=media,
            request=request,
        )
    return thread, message


def _rate_key(user: User) -> str:
    return f"messaging-post:{user.pk}"


def message_post(
    *,
    thread: Thread,
    by: User,
    body: str,
    internal: bool = False,
    files: Sequence[UploadedFile] = (),
    request: HttpRequest | None = None,
) -> Message:
    """A signed-in user posts to a thread they may see (the caller's selector checked that),
    from a page, the API or a socket alike. Their role decides the author kind (and so
    whether an internal note is allowed, in _message_add); every user has one rate limit over
    all three doors. The
    returned message's `thread.urgent` says whether the post flagged the thread urgent."""
    patient = by.role == Role.PATIENT
    if patient and thread.patient.user_id != by.pk:
        raise MessagingForbidden(_("This conversation is not yours."))
    if over_limit(_rate_key(by), limit=settings.MESSAGING_RATE, window=RATE_WINDOW):
        raise MessagingRateLimited(_("Too many messages at once. Wait a minute."))
    try:
        return _message_add(
            thread=thread,
            body=body,
            author_kind=Message.Author.PATIENT if patient else Message.Author.STAFF,
            by=by,
            internal=internal,
            files=files,
            request=request,
        )
    except MessagingError:
        forgive(_rate_key(by), window=RATE_WINDOW)  # a refused post does not use up a try
        raise


def _message_add(
    *,
    thread: Thread,
    body: str,
    author_kind: str,
    by: User | None = None,
    internal: bool = False,
    via: str = Message.Via.PORTAL,
    files: Sequence[UploadedFile] = (),
    media: Sequence[Media] = (),
    request: HttpRequest | None = None,
) -> Message:
    """Add a message under the thread's next sequence number, in one transaction with
    everything it causes: search terms, the SMS or email that carries it, the urgent flag,
    rules and the after-hours reply, and the live events (sent after commit). Texted
    pictures (`media`) are fetched after commit and attached when they arrive."""
    if internal and author_kind != Message.Author.STAFF:
        raise MessagingForbidden(_("Only staff write internal notes."))
    body = _clean_body(body, allow_empty=bool(files or media))
    checked = [attachment_files.check(f) for f in files]  # refuse before writing anything
    with transaction.atomic():
        thread = (
            Thread.objects.select_for_update().select_related("patient__practice").get(pk=thread.pk)
        )
        message = _append(
            thread=thread,
            body=body,
            author_kind=author_kind,
            by=by,
            internal=internal,
            via=via,
        )
        for upload, kind in checked:
            Attachment.objects.create(
                message=message,
                file=upload,
                name=(upload.name or "attachment")[-120:],
                content_type=kind,
                size=upload.size,
            )
        if internal:
            mentioned = _mentioned(thread.practice_id, body)
            message.mentions.set(mentioned)
            for person in mentioned:  # their /ws/me/ socket: a live "you were mentioned"
                broadcast_on_commit(
                    user_group(person.pk),
                    {
                        "type": "user.event",
                        "payload": {
                            "type": "mention",
                            "thread": thread.pk,
                            "by": by.full_name if by else "",
                        },
                    },
                )
        search.index(thread=thread, text=body)
        audit.record(
            action=Action.CREATE,
            actor=by,
            obj=message,
            patient=thread.patient,
            request=request,
            detail="internal note" if internal else f"message from {author_kind}",
        )
        if author_kind == Message.Author.PATIENT:
            _after_patient_message(thread=thread, message=message)
        elif not internal:
            _deliver_to_patient(thread=thread, message=message)
        _announce(thread=thread, message=message)
        if media:  # after the announcement: a picture's own event must follow the message's
            _media_fetches_queue(message, media)
    return message


def _media_fetches_queue(message: Message, media: Sequence[Media]) -> None:
    from messaging import sms_media

    fetches = MediaFetch.objects.bulk_create(
        MediaFetch(message=message, position=n, url=m.url, declared_type=m.content_type)
        for n, m in enumerate(media)
    )
    for fetch in fetches:
        sms_media.queue_on_commit(fetch.pk)


def _append(*, thread: Thread, body: str, author_kind: str, by, internal: bool, via: str):
    """The next message of a locked thread, and the thread's counters."""
    seq = thread.last_seq + 1
    now = timezone.now()
    message = Message.objects.create(
        thread=thread,
        seq=seq,
        author_kind=author_kind,
        author=by,
        body=body,
        internal=internal,
        via=via,
        created_at=now,
        prev_public_seq=thread.last_public_seq,
    )
    thread.last_seq = seq
    fields = ["last_seq"]
    if not internal:
        thread.last_message_at, thread.last_public_seq = now, seq
        fields += ["last_message_at", "last_public_seq"]
    if author_kind == Message.Author.PATIENT:
        thread.last_patient_seq = seq
        thread.status = Thread.Status.OPEN  # a patient's message reopens a closed thread
        thread.closed_at = None  # and it is no longer resolved
        fields += ["last_patient_seq", "status", "closed_at"]
    elif author_kind == Message.Author.STAFF and not internal:
        thread.status = Thread.Status.PENDING
        fields.append("status")
    thread.save(update_fields=fields)
    if by is not None:
        _read_to(thread=thread, user=by, seq=seq)
    return message


def _mentioned(practice_id: int, body: str) -> list[User]:
    """Staff named as @first-name or @email-name in an internal note."""
    handles = {h.lower() for h in re.findall(r"@([\w.\-]+)", body)}
    if not handles:
        return []
    staff = User.objects.filter(practice_id=practice_id, is_active=True).exclude(role=Role.PATIENT)
    return [
        user
        for user in staff
        if user.email.split("@")[0].lower() in handles
        or (user.full_name.split() or [""])[0].lower() in handles
    ]


def _system_reply(*, thread: Thread, body: str) -> Message:
    message = _append(
        thread=thread,
        body=body,
        author_kind=Message.Author.SYSTEM,
        by=None,
        internal=False,
        via=Message.Via.PORTAL,
    )
    _deliver_to_patient(thread=thread, message=message)
    _announce(thread=thread, message=message)
    return message


def _patient_wording(thread: Thread, key: str) -> str:
    patient = thread.patient
    _subject, body = notify.wording_for(
        practice=patient.practice, key=key, channel=wording.SMS, language=patient.preferred_language
    )
    context = {
        **practice_context(patient),
        "emergency_number": settings_for(patient.practice).emergency_number,
    }
    return wording.render(body, context)


def _after_patient_message(*, thread: Thread, message: Message) -> None:
    """The urgent-symptom guard, the practice's rules and the after-hours reply."""
    practice = thread.patient.practice
    changed = []
    if emergency_terms_in(message.body, practice):
        thread.urgent, thread.priority = True, Thread.Priority.HIGH
        changed += ["urgent", "priority"]
        _system_reply(thread=thread, body=_patient_wording(thread, "messaging.urgent"))
    rules = matching_rules(practice, message.body)
    for rule in rules:
        for field, value in (
            ("category", rule.set_category),
            ("priority", rule.set_priority if not thread.urgent else ""),
            ("assignee_id", rule.set_assignee_id),
            ("team_id", rule.set_team_id),
        ):
            if value:
                setattr(thread, field, value)
                changed.append(field)
    if changed:
        thread.save(update_fields=sorted(set(changed)))
    replied = next((rule for rule in rules if rule.reply.strip()), None)
    if replied is not None:
        _system_reply(thread=thread, body=replied.reply.strip())
    elif (
        not thread.urgent
        and settings_for(practice).after_hours_reply_on
        and not is_open(practice, message.created_at)
        and not _recent_after_hours_reply(thread)
    ):
        _system_reply(thread=thread, body=_patient_wording(thread, "messaging.after_hours"))


def _recent_after_hours_reply(thread: Thread) -> bool:
    return Message.objects.filter(
        thread=thread,
        author_kind=Message.Author.SYSTEM,
        created_at__gte=timezone.now() - AFTER_HOURS_QUIET,
    ).exists()


def thread_url(thread: Thread) -> str:
    return settings.SITE_URL + reverse("messaging:thread", args=[thread.pk])


def signed_by_practice(practice: Practice, text: str) -> str:
    """A text opens with the practice's name, so the patient knows who wrote. Automatic
    replies' wording already opens with it (as a practice's own wording or a bulk message
    may): the name is not said twice."""
    return text if text.startswith(practice.name) else f"{practice.name}: {text}"


def _deliver_to_patient(*, thread: Thread, message: Message) -> None:
    """Staff and automatic replies reach a patient who prefers texts by SMS (with consent and
    no opt-out); others get an email saying a message is waiting in the portal (no PHI)."""
    patient = thread.patient
    by_text = patient.preferred_channel == "sms" or thread.origin in (Origin.SMS, Origin.WEB_CHAT)
    if by_text and notify.sms_allowed(patient):
        text = message.body
        if message.attachments.exists():
            text += "\n" + _("(Attachment: open the portal to see it.)") + " " + thread_url(thread)
        sms = notify.message_enqueue(
            channel="sms",
            template="messaging.message",
            body=signed_by_practice(patient.practice, text),
            dedupe_key=f"thread-message:{message.pk}:sms",
            patient=patient,
            related=message,
        )
        if sms is not None:
            Message.objects.filter(pk=message.pk).update(sms=sms)
        return
    if message.author_kind == Message.Author.STAFF:
        notify.patient_message_enqueue(
            patient=patient,
            channel="email",
            key="messaging.new_message",
            context={**practice_context(patient), "portal_link": thread_url(thread)},
            related=message,
            dedupe_key=f"thread-message:{message.pk}:email",
        )


def message_event(message: Message) -> dict:
    """The frame a client gets for a message (also what catch-up replays)."""
    author = message.author
    return {
        "type": "message",
        "thread": message.thread_id,
        "seq": message.seq,
        "prev_public": message.prev_public_seq,
        "id": message.pk,
        "author_kind": message.author_kind,
        "author": author.full_name if author else "",
        "author_id": author.pk if author else None,
        "body": message.body,
        "internal": message.internal,
        "via": message.via,
        "at": message.created_at.isoformat(),
        "attachments": [
            {
                "id": a.pk,
                "name": a.name,
                "type": a.content_type,
                "size": a.size,
                "url": reverse("messaging:attachment", args=[a.pk]),
            }
            for a in message.attachments.all()
        ],
    }


def _announce(*, thread: Thread, message: Message) -> None:
    event = {"type": "thread.event", "event": message_event(message)}
    group = staff_group(thread.pk) if message.internal else thread_group(thread.pk)
    broadcast_on_commit(group, event)
    broadcast_on_commit(inbox_group(thread.practice_id), _inbox_event(thread))


def announce_message_changed(message: Message) -> None:
    """A message changed after it was posted (a texted picture arrived): open pages redraw it."""
    event = {"type": "thread.event", "event": {**message_event(message), "type": "message-changed"}}
    group = staff_group(message.thread_id) if message.internal else thread_group(message.thread_id)
    broadcast_on_commit(group, event)


def _inbox_event(thread: Thread) -> dict:
    return {
        "type": "inbox.event",
        "event": {
            "type": "thread-updated",
            "thread": thread.pk,
            "status": thread.status,
            "urgent": thread.urgent,
            "assignee": thread.assignee_id,
            "last_seq": thread.last_seq,
        },
    }


# --- Reading, assignment, status ----------------------------------------------------------


def _read_to(*, thread: Thread, user: User, seq: int) -> int:
    """Move the user's read position forward to `seq`; returns where it was (0: unread)."""
    position, created = ReadPosition.objects.get_or_create(
        thread=thread, user=user, defaults={"seq": seq}
    )
    if created:
        return 0
    if seq > position.seq:
        ReadPosition.objects.filter(pk=position.pk, seq__lt=seq).update(
            seq=seq, read_at=timezone.now()
        )
    return position.seq


def mark_read(*, thread: Thread, user: User, seq: int | None = None) -> bool:
    """Move the user's read position forward (never back); tell the thread who read what.

    A patient reads at most the newest message they may see. The receipt goes to the thread's
    group, which the patient's socket joins, so it stops at the newest public message: staff
    who only read internal notes past it send none, or the patient would learn of the notes."""
    patient = user.role == Role.PATIENT
    newest = thread.last_public_seq if patient else thread.last_seq
    seq = min(newest, seq if seq is not None else newest)
    if seq <= 0:
        return False
    with transaction.atomic():
        before = _read_to(thread=thread, user=user, seq=seq)
        if before >= seq:
            return False
        public = min(seq, thread.last_public_seq)
        if public > min(before, thread.last_public_seq):
            broadcast_on_commit(
                thread_group(thread.pk),
                {
                    "type": "thread.event",
                    "event": {
                        "type": "read",
                        "seq": public,
                        "by": "patient" if patient else "staff",
                        "user": user.pk,
                        "thread": thread.pk,
                    },
                },
            )
        broadcast_on_commit(inbox_group(thread.practice_id), _inbox_event(thread))
    return True


def assign(*, thread: Thread, by: User, assignee: User | None, team: Team | None) -> Thread:
    if assignee is not None and (
        assignee.practice_id != thread.practice_id or assignee.role == Role.PATIENT
    ):
        raise MessagingError(_("Assign the thread to someone on your practice's staff."))
    if team is not None and team.practice_id != thread.practice_id:
        raise MessagingError(_("That team is not one of your practice's."))
    with transaction.atomic():
        thread = Thread.objects.select_for_update().get(pk=thread.pk)
        thread.assignee, thread.team = assignee, team
        thread.save(update_fields=["assignee", "team"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=thread,
            patient=thread.patient,
            detail=f"assigned to {assignee.full_name if assignee else team or 'nobody'}"[:300],
        )
        _staff_event(
            thread, {"type": "assigned", "assignee": assignee.full_name if assignee else ""}
        )
    return thread


def set_status(*, thread: Thread, by: User, status: str) -> Thread:
    if status not in Thread.Status.values:
        raise MessagingError(_("Choose open, waiting on patient or closed."))
    with transaction.atomic():
        thread = Thread.objects.select_for_update().get(pk=thread.pk)
        if status == Thread.Status.CLOSED and thread.status != Thread.Status.CLOSED:
            thread.closed_at = timezone.now()
        elif status != Thread.Status.CLOSED:
            thread.closed_at = None
        thread.status = status
        if status == Thread.Status.CLOSED:
            thread.urgent = False
        thread.save(update_fields=["status", "urgent", "closed_at"])
        audit.record(
            action=Action.UPDATE, actor=by, obj=thread, patient=thread.patient, detail=status
        )
        _staff_event(thread, {"type": "status", "status": status})
    return thread


def _staff_event(thread: Thread, event: dict) -> None:
    broadcast_on_commit(
        staff_group(thread.pk), {"type": "thread.event", "event": {**event, "thread": thread.pk}}
    )
    broadcast_on_commit(inbox_group(thread.practice_id), _inbox_event(thread))


# --- The SMS bridge in ----------------------------------------------------------------------


def sms_received(*, patient: Patient, body: str, media: Sequence[Media] = ()) -> Message:
    """A text from a known patient: it continues their latest open thread of the last 30
    days, or starts one. Pictures sent with it are fetched after commit (sms_media)."""
    body = body.strip() or ("" if media else "(empty text)")
    thread = (
        Thread.objects.filter(
            patient=patient,
            last_message_at__gte=timezone.now() - timedelta(days=SMS_THREAD_DAYS),
        )
        .exclude(status=Thread.Status.CLOSED)
        .order_by("-last_message_at")
        .first()
    )
    if thread is None:
        _thread, message = thread_start(
            patient=patient,
            subject=_("Text message"),
            body=body[:MAX_BODY],
            origin=Origin.SMS,
            media=media,
        )
        return message
    return _message_add(
        thread=thread,
        body=body[:MAX_BODY],
        author_kind=Message.Author.PATIENT,
        via=Message.Via.SMS,
        media=media,
    )


def web_chat_start(
    *,
    practice: Practice,
    name: str,
    date_of_birth: date,
    phone: str,
    body: str,
    request: HttpRequest | None = None,
) -> Thread:
    """A message from the practice's website chat: find the returning patient (or register a
    new one, who agreed to texts on the form) and start a thread that continues by text, all
    or nothing, so a refused chat leaves no patient behind. The patient gets an
    acknowledgement by text unless an automatic reply already went."""
    try:
        with transaction.atomic():
            patient, _created = account_services.patient_match_or_create(
                practice=practice,
                legal_name=name,
                date_of_birth=date_of_birth,
                phone=phone,
                sms_consent=True,
                request=request,
            )
            thread, _message = thread_start(
                patient=patient,
                subject=_("Website chat"),
                body=body,
                origin=Origin.WEB_CHAT,
                request=request,
            )
            thread = (
                Thread.objects.select_for_update()
                .select_related("patient__practice")
                .get(pk=thread.pk)
            )
            if not thread.messages.filter(author_kind=Message.Author.SYSTEM).exists():
                _system_reply(
                    thread=thread, body=_patient_wording(thread, "messaging.web_chat_received")
                )
    except ValidationError as exc:  # the phone or the new patient's record did not validate
        raise MessagingError(" ".join(exc.messages)) from exc
    return thread


# --- Bulk messages --------------------------------------------------------------------------


def bulk_send(*, practice: Practice, by: User, patients, body: str, channel: str) -> int:
    """Queue one message per reachable patient through the outbox (consent and opt-out are
    honoured by the outbox's rules); returns how many were queued."""
    body = _clean_body(body)
    try:
        wording.validate_template(channel=wording.EMAIL, subject="", body=body)
    except wording.TemplateError as error:
        raise MessagingError(str(error)) from error
    if channel not in ("sms", "email"):
        raise MessagingError(_("Choose text message or email."))
    if channel == "sms" and wording.sms_size(body).segments > 3:
        raise MessagingError(_("A bulk text is limited to 3 SMS segments. Shorten it."))
    stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
    queued = 0
    with transaction.atomic():
        for patient in patients:
            text = wording.render(body, {**practice_context(patient)})
            reachable = notify.sms_allowed(patient) if channel == "sms" else bool(patient.email)
            if not reachable:
                continue
            notify.message_enqueue(
                channel=channel,
                template="messaging.bulk",
                body=signed_by_practice(practice, text) if channel == "sms" else text,
                subject=_("A message from %(practice)s") % {"practice": practice.name},
                html_body=notify.html_from_text(text) if channel == "email" else "",
                dedupe_key=f"bulk:{practice.pk}:{by.pk}:{stamp}:{patient.pk}:{channel}",
                patient=patient,
            )
            queued += 1
        audit.record(
            action=Action.EXPORT,
            actor=by,
            obj=practice,
            detail=f"bulk {channel} message to {queued} patients",
        )
    return queued
