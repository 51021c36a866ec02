"""Pictures patients text, fetched after the webhook was answered (a worker's job, never the
request's): each MediaFetch is claimed under a short lease, fetched from Twilio, checked
like any upload (bytes sniffed, size limit) and attached to its message. A failure that may
pass is retried with the outbox's backoff; one that will not, or the last try, leaves the
row failed, shown to staff on the thread with a way to try again."""

import logging
from datetime import timedelta

from django.core.files.base import ContentFile, File
from django.db import transaction
from django.utils import timezone

from messaging import attachments as attachment_files
from messaging.models import Attachment, MediaFetch, Message, Thread
from messaging.services import MessagingError, announce_message_changed
from telehealth.accounts.models import User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.notify.dispatch import backoff
from telehealth.notify.media import MediaFetchError, fetch_media

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 6  # 30 s, 1, 2, 4, 8 minutes apart: about a quarter of an hour in all
LEASE = timedelta(minutes=5)  # longer than a fetch may take (notify.media.DEADLINE)
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "application/pdf": "pdf",
}
Status = MediaFetch.Status


def _claim(fetch_id: int) -> MediaFetch | None:
    """The row, if it is due and no other worker holds it; its lease starts now."""
    now = timezone.now()
    with transaction.atomic():
        fetch = (
            MediaFetch.objects.select_for_update(skip_locked=True)
            .filter(pk=fetch_id, status=Status.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if fetch is None:
            return None
        fetch.attempts += 1
        fetch.next_attempt_at = now + LEASE
        fetch.save(update_fields=["attempts", "next_attempt_at"])
    return fetch


def media_fetch(*, fetch_id: int) -> MediaFetch | None:
    """Fetch one due picture and attach it, or record why not. None when it was not due (or
    another worker has it). Runs outside any transaction: the download holds no lock."""
    fetch = _claim(fetch_id)
    if fetch is None:
        return None
    try:
        data = fetch_media(fetch.url, max_bytes=attachment_files.MAX_BYTES)
        upload, kind = attachment_files.check(
            ContentFile(data, name=f"picture-{fetch.position + 1}")
        )
    except MediaFetchError as exc:
        return _failed(fetch, str(exc), transient=exc.transient)
    except MessagingError as exc:
        return _failed(fetch, exc.message, transient=False)
    return _attach(fetch, upload, kind)


def _still_ours(fetch: MediaFetch) -> MediaFetch | None:
    """The row, locked, if this worker's claim still stands: nobody finished it and no second
    worker claimed it after this lease ran out (`attempts` is the lease's token). Call inside
    a transaction."""
    current = MediaFetch.objects.select_for_update().get(pk=fetch.pk)
    if current.status != Status.PENDING or current.attempts != fetch.attempts:
        logger.warning("Texted picture %s: claim %s outlived its lease", fetch.pk, fetch.attempts)
        return None
    return current


def _failed(fetch: MediaFetch, reason: str, *, transient: bool) -> MediaFetch:
    with transaction.atomic():
        current = _still_ours(fetch)
        if current is None:
            return MediaFetch.objects.get(pk=fetch.pk)
        if transient and current.attempts < MAX_ATTEMPTS:
            current.next_attempt_at = timezone.now() + backoff(current.attempts)
        else:
            current.status = Status.FAILED
            logger.warning(
                "Texted picture %s given up after %s attempts", current.pk, current.attempts
            )
        current.last_error = reason[:300]
        current.save(update_fields=["status", "next_attempt_at", "last_error"])
        if current.status == Status.FAILED:
            announce_message_changed(current.message)
    return current


def _attach(fetch: MediaFetch, upload: File, kind: str) -> MediaFetch:
    name = f"picture-{fetch.position + 1}.{EXTENSIONS.get(kind, 'bin')}"
    with transaction.atomic():
        message = Message.objects.select_related("thread__patient").get(pk=fetch.message_id)
        Thread.objects.select_for_update().get(pk=message.thread_id)  # one change at a time
        current = _still_ours(fetch)
        if current is None:
            return MediaFetch.objects.get(pk=fetch.pk)
        upload.name = name
        attachment = Attachment.objects.create(
            message=message, file=upload, name=name, content_type=kind, size=upload.size
        )
        current.status, current.attachment, current.last_error = Status.FETCHED, attachment, ""
        current.save(update_fields=["status", "attachment", "last_error"])
        audit.record(
            action=Action.CREATE,
            obj=attachment,
            patient=message.thread.patient,
            detail="picture sent by text",
        )
        announce_message_changed(message)
    return current


def media_fetch_retry(*, fetch: MediaFetch, by: User) -> MediaFetch:
    """Staff ask for a given-up picture again: it is fetched anew, with a fresh set of tries."""
    with transaction.atomic():
        fetch = MediaFetch.objects.select_for_update().get(pk=fetch.pk)
        if fetch.status != Status.FAILED:
            return fetch
        fetch.status, fetch.attempts, fetch.next_attempt_at = Status.PENDING, 0, timezone.now()
        fetch.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=fetch.message,
            patient=fetch.message.thread.patient,
            detail="texted picture fetched again",
        )
        queue_on_commit(fetch.pk)
    return fetch


def queue_on_commit(fetch_id: int) -> None:
    from messaging import tasks

    transaction.on_commit(lambda: tasks.fetch_sms_media.delay(fetch_id))


def due_fetch_ids(*, limit: int = 100) -> list[int]:
    """Pictures waiting for their next try (or whose worker died inside its lease)."""
    return list(
        MediaFetch.objects.filter(status=Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
