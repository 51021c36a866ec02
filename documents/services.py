"""Writes of shared documents: share (an upload or a library item), withdraw, open, and the
education library. Each is one transaction with its audit event; the patient's notice goes
through notify's outbox in the same transaction and says only that a document is ready."""

import posixpath

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from documents.models import Kind, LibraryItem, SharedDocument
from documents.selectors import kinds_shareable_by, may_manage_library
from scheduling.models import Appointment
from telehealth.accounts.models import Patient, User
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.files import sniff
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from telehealth.photos import PHOTO_TYPES, PhotoError, prepare_photo

MAX_BYTES = 20 * 1024 * 1024
NOTICE = "documents.shared"


class DocumentError(Exception):
    """A change refused, with a message for the person who tried."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class DocumentForbidden(DocumentError):
    status_code = 403


def prepare_upload(upload: File) -> tuple[File, str, str]:
    """(the file to store, its type, its name) for a PDF or a picture, or DocumentError.
    A PDF is kept as sent; a picture is re-encoded without its metadata (telehealth.photos)."""
    name = posixpath.basename(upload.name or "document")[-120:] or "document"
    if upload.size is None or upload.size > MAX_BYTES:
        raise DocumentError(_("%(name)s is larger than 20 MB.") % {"name": name})
    upload.seek(0)
    kind = sniff(upload.read(16))
    upload.seek(0)
    if kind == "application/pdf":
        return upload, kind, name
    if kind not in PHOTO_TYPES:
        raise DocumentError(
            _("%(name)s is not a PDF or a picture. Share a PDF, JPEG, PNG, HEIC or WebP file.")
            % {"name": name}
        )
    try:
        photo = prepare_photo(upload.read(), name=name)
    except PhotoError as error:
        raise DocumentError(str(error)) from error
    stem = posixpath.splitext(name)[0] or "picture"
    jpeg = f"{stem[:115]}.jpg"
    return ContentFile(photo.content, name=jpeg), photo.content_type, jpeg


def portal_link() -> str:
    return settings.SITE_URL + reverse("documents:mine")


def document_share(
    *,
    patient: Patient,
    by: User,
    kind: str,
    title: str,
    comment: str = "",
    upload: File | None = None,
    library_item: LibraryItem | None = None,
    appointment: Appointment | None = None,
    request=None,
) -> SharedDocument:
    """Share one document with a patient the caller may see (through `access_patient`), and
    queue the patient's notice on the channel they prefer."""
    if kind not in kinds_shareable_by(by) or by.practice_id != patient.practice_id:
        raise DocumentForbidden(_("You may not share this kind of document."))
    if (upload is None) == (library_item is None):
        raise DocumentError(_("Upload a file or choose one from the library."))
    if library_item is not None:
        if library_item.practice_id != patient.practice_id:
            raise DocumentError(_("Choose an item of your practice's library."))
        if kind != Kind.EDUCATION:
            raise DocumentError(_("Library items are shared as education material."))
    if appointment is not None and appointment.patient_id != patient.pk:
        raise DocumentError(_("Choose one of this patient's appointments."))
    if patient.user_id is None:
        raise DocumentError(
            _("This patient has no portal account yet. Invite them first, then share.")
        )
    stored: File | None = None
    name, content_type, size = "", "", 0
    if upload is not None:
        stored, content_type, name = prepare_upload(upload)
        size = stored.size or 0
    try:
        with transaction.atomic():
            document = SharedDocument.objects.create(
                practice_id=patient.practice_id,
                patient=patient,
                kind=kind,
                title=title.strip(),
                comment=comment.strip(),
                file=stored or "",
                name=name,
                content_type=content_type,
                size=size,
                library_item=library_item,
                appointment=appointment,
                shared_by=by,
            )
            audit.record(
                action=Action.CREATE,
                actor=by,
                obj=document,
                request=request,
                detail=f"document #{document.pk} shared ({kind})",
            )
            _notify(document)
    except IntegrityError as error:
        if library_item is not None:  # the partial unique constraint: shared and not withdrawn
            raise DocumentError(_("This patient already has this item.")) from error
        raise
    return document


def _notify(document: SharedDocument) -> None:
    patient = document.patient
    channel = notify.patient_channel(patient)
    if channel is None:
        return  # no email and no texts: they see it at their next sign-in
    notify.patient_message_enqueue(
        patient=patient,
        channel=channel,
        key=NOTICE,
        context={**practice_context(patient), "portal_link": portal_link()},
        dedupe_key=f"document-shared:{document.pk}:{channel}",
        related=document,
    )


def document_withdraw(*, document: SharedDocument, by: User, request=None) -> SharedDocument:
    """Take back a document shared by mistake: the patient no longer sees it, a notice not yet
    sent is cancelled, and the record stays (with its audit trail)."""
    if document.kind not in kinds_shareable_by(by):
        raise DocumentForbidden(_("You may not withdraw this kind of document."))
    with transaction.atomic():
        withdrawn = SharedDocument.objects.filter(pk=document.pk, withdrawn_at__isnull=True).update(
            withdrawn_at=timezone.now(), withdrawn_by=by
        )
        if not withdrawn:
            raise DocumentError(_("This document was already withdrawn."))
        document.refresh_from_db(fields=["withdrawn_at", "withdrawn_by"])
        notify.messages_cancel(related=document, template_prefix=NOTICE)
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=document,
            request=request,
            detail=f"document #{document.pk} withdrawn",
        )
    return document


def document_open(
    *, document: SharedDocument, by: User, download: bool, request=None
) -> SharedDocument:
    """Record one view (inline) or download of the file; the patient's first one is kept for
    the staff to see. The caller got `document` through `access_document`."""
    with transaction.atomic():
        if by.is_patient and document.first_opened_at is None:
            now = timezone.now()
            if SharedDocument.objects.filter(pk=document.pk, first_opened_at__isnull=True).update(
                first_opened_at=now
            ):
                document.first_opened_at = now
        audit.record(
            action=Action.EXPORT if download else Action.VIEW,
            actor=by,
            obj=document,
            request=request,
            detail=f"document #{document.pk} {'downloaded' if download else 'opened'}",
        )
    return document


def library_item_add(*, by: User, title: str, upload: File, request=None) -> LibraryItem:
    if not may_manage_library(by) or by.practice_id is None:
        raise DocumentForbidden(_("Only clinicians and practice admins add to the library."))
    stored, content_type, name = prepare_upload(upload)
    with transaction.atomic():
        item = LibraryItem.objects.create(
            practice_id=by.practice_id,
            title=title.strip(),
            file=stored,
            name=name,
            content_type=content_type,
            size=stored.size or 0,
            added_by=by,
        )
        audit.record(action=Action.CREATE, actor=by, obj=item, request=request)
    return item
