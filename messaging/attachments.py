"""Attachment checks: images and PDF only, recognised by their first bytes (a renamed
executable is refused whatever its name says), and a size limit."""

from django.core.files.base import File
from django.utils.translation import gettext as _

from telehealth.files import sniff

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 5


def check(upload: File) -> tuple[File, str]:
    """(the upload, its sniffed type), or MessagingError with a message for the sender."""
    from messaging.services import MessagingError

    if upload.size > MAX_BYTES:
        raise MessagingError(
            _("%(name)s is larger than 10 MB. Send a smaller file.") % {"name": upload.name}
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    kind = sniff(head)
    if not kind:
        raise MessagingError(
            _("%(name)s is not a photo or a PDF. Only images and PDF files can be attached.")
            % {"name": upload.name}
        )
    return upload, kind
