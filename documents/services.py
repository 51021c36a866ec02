"""Writes of shared documents: share (an upload or a library item, with one patient or many),
withdraw, open, and the education library (add, retire, put back). Each is one transaction
with its audit event; the patient's notice goes through notify's outbox in the same
transaction and says only that a document is ready."""

import posixpath
from collections.abc import Collection
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from documents.models import Kind, LibraryItem, SharedDocument
from documents.selectors import kinds_shareable_by, may_manage_library
from scheduling.models import Appointment
from telehealth.accounts.models import Patient, User
from telehealth.accounts.selectors import patients_visible_to
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from telehealth.files import sniff
from telehealth.notify import services as notify
from telehealth.notify.inbound import practice_context
from telehealth.photos import PHOTO_TYPES, PhotoError, prepare_photo

MAX_BYTES = 20 * 1024 * 1024
# Patients one leaflet goes to in one go: a transaction that holds the practice's audit chain
# for a moment, and a list a person can still check before sending.
MAX_BULK_SHARE = 200
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
        if library_item.is_retired:
            raise DocumentError(_("This library item is retired: it is no longer shared."))
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


@dataclass(frozen=True)
class BulkShare:
    """What a share with many patients did: the documents made, and who was skipped."""

    documents: list[SharedDocument]
    already_had: int  # an active share of the item already
    without_portal: int  # no account to read it in yet


def library_item_share_many(
    *,
    item: LibraryItem,
    by: User,
    patient_ids: Collection[int],
    comment: str = "",
    request=None,
) -> BulkShare:
    """Share one library item with many patients at once (a leaflet for every patient of a
    provider, or with an upcoming visit of a type): one document each, one audit event naming
    them all, one notice each through the outbox, all in one transaction and in a number of
    statements that does not grow with the list. Patients who already have the item, or have
    no portal account, are skipped and counted. Every chosen patient must be one the caller
    may see, or nothing is shared."""
    if Kind.EDUCATION not in kinds_shareable_by(by) or by.practice_id != item.practice_id:
        raise DocumentForbidden(_("You may not share this kind of document."))
    ids = set(patient_ids)
    if not ids:
        raise DocumentError(_("Choose at least one patient."))
    if len(ids) > MAX_BULK_SHARE:
        raise DocumentError(
            ngettext(
                "You chose %(count)s patient; share with at most %(max)s at a time.",
                "You chose %(count)s patients; share with at most %(max)s at a time. "
                "Narrow the list (by provider or visit type) and share in several goes.",
                len(ids),
            )
            % {"count": len(ids), "max": MAX_BULK_SHARE}
        )
    comment = comment.strip()
    try:
        with transaction.atomic():
            # The item's row lock: a retirement committed meanwhile is seen, not raced.
            current = LibraryItem.objects.select_for_update().get(pk=item.pk)
            if current.is_retired:
                raise DocumentError(_("This library item is retired: it is no longer shared."))
            patients = list(
                patients_visible_to(by)
                .filter(pk__in=ids, practice_id=item.practice_id)
                .select_related("practice")
                .order_by("pk")
            )
            if len(patients) != len(ids):
                raise DocumentError(_("Some of the chosen patients are not yours to share with."))
            had = set(
                SharedDocument.objects.filter(
                    library_item=item, patient_id__in=ids, withdrawn_at__isnull=True
                ).values_list("patient_id", flat=True)
            )
            targets = [p for p in patients if p.pk not in had and p.user_id is not None]
            now = timezone.now()
            documents = SharedDocument.objects.bulk_create(
                [
                    SharedDocument(
                        practice_id=item.practice_id,
                        patient=patient,
                        kind=Kind.EDUCATION,
                        title=item.title,
                        comment=comment,
                        library_item=item,
                        shared_by=by,
                        shared_at=now,
                    )
                    for patient in targets
                ]
            )
            if documents:
                audit.record_many(
                    action=Action.CREATE,
                    actor=by,
                    objects=[(document, document.patient) for document in documents],
                    request=request,
                    detail=f"library item #{item.pk} shared with {len(documents)} patients",
                )
                link = portal_link()
                notify.patient_notices_enqueue(
                    practice=patients[0].practice,
                    key=NOTICE,
                    notices=[
                        notify.Notice(
                            patient=document.patient,
                            dedupe_key=f"document-shared:{document.pk}",
                            context={**practice_context(document.patient), "portal_link": link},
                            related=document,
                        )
                        for document in documents
                    ],
                )
    except IntegrityError as error:  # the same item shared with one of them meanwhile
        raise DocumentError(
            _("One of these patients was given this item just now. Try again.")
        ) from error
    without_portal = sum(1 for p in patients if p.pk not in had and p.user_id is None)
    return BulkShare(documents=documents, already_had=len(had), without_portal=without_portal)


def library_item_retire(*, item: LibraryItem, by: User, request=None) -> LibraryItem:
    """Stop offering an item for new shares; the documents already shared stay readable."""
    return _library_item_set_retired(item=item, by=by, retired=True, request=request)


def library_item_restore(*, item: LibraryItem, by: User, request=None) -> LibraryItem:
    """Offer a retired item for new shares again."""
    return _library_item_set_retired(item=item, by=by, retired=False, request=request)


def _library_item_set_retired(
    *, item: LibraryItem, by: User, retired: bool, request
) -> LibraryItem:
    if not may_manage_library(by) or by.practice_id != item.practice_id:
        raise DocumentForbidden(_("Only clinicians and practice admins retire library items."))
    with transaction.atomic():
        changed = LibraryItem.objects.filter(pk=item.pk, retired_at__isnull=retired).update(
            retired_at=timezone.now() if retired else None, retired_by=by if retired else None
        )
        if not changed:
            raise DocumentError(
                _("This item is already retired.") if retired else _("This item is not retired.")
            )
        item.refresh_from_db(fields=["retired_at", "retired_by"])
        audit.record(
            action=Action.UPDATE,
            actor=by,
            obj=item,
            request=request,
            detail=f"library item #{item.pk} {'retired' if retired else 'put back'}",
        )
    return item
