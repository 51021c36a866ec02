from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scheduling.models import Appointment
from telehealth.accounts.models import Patient, Practice, User
from telehealth.crypto.fields import EncryptedTextField


class Kind(models.TextChoices):
    LAB_RESULT = "lab_result", _("Lab results")
    IMAGING_REPORT = "imaging_report", _("Imaging report")
    VISIT_SUMMARY = "visit_summary", _("Visit summary")
    EDUCATION = "education", _("Education material")


CLINICAL_KINDS = frozenset({Kind.LAB_RESULT, Kind.IMAGING_REPORT, Kind.VISIT_SUMMARY})


class LibraryItem(models.Model):
    """A practice's education leaflet: stored once, shared with any number of patients."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    file = models.FileField(upload_to="documents/library/")  # the default storage encrypts
    name = models.CharField(max_length=120)  # the file's name when downloaded
    content_type = models.CharField(max_length=40)  # sniffed from the bytes
    size = models.PositiveIntegerField()
    added_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    # Retired: no longer offered for new shares; shares already made stay readable.
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["title"]
        constraints = [
            models.CheckConstraint(
                condition=Q(retired_at__isnull=True, retired_by__isnull=True)
                | Q(retired_at__isnull=False, retired_by__isnull=False),
                name="library_item_retired_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"Library item #{self.pk}"

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class SharedDocument(models.Model):
    """A document a patient may read in the portal. Its own file, or a library item's (never
    a copy). Withdrawn documents are kept: the patient no longer sees them, the audit and the
    staff still do."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = EncryptedTextField()  # "HIV test result" is PHI
    comment = EncryptedTextField(blank=True)
    file = models.FileField(upload_to="documents/shared/", blank=True)
    name = EncryptedTextField(blank=True)  # the uploaded file's own name can be PHI too
    content_type = models.CharField(max_length=40, blank=True)
    size = models.PositiveIntegerField(default=0)
    library_item = models.ForeignKey(
        LibraryItem, null=True, blank=True, on_delete=models.PROTECT, related_name="shares"
    )
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shared_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    shared_at = models.DateTimeField(default=timezone.now)
    first_opened_at = models.DateTimeField(null=True, blank=True)  # by the patient
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-shared_at", "-pk"]
        indexes = [models.Index(fields=["patient", "shared_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(library_item__isnull=True) & ~Q(file="")
                | Q(library_item__isnull=False, file=""),
                name="shared_document_one_source",
            ),
            models.CheckConstraint(
                condition=Q(library_item__isnull=True) | Q(kind="education"),
                name="shared_document_library_is_education",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True, withdrawn_by__isnull=True)
                | Q(withdrawn_at__isnull=False, withdrawn_by__isnull=False),
                name="shared_document_withdrawn_by_someone",
            ),
            models.UniqueConstraint(
                fields=["patient", "library_item"],
                condition=Q(library_item__isnull=False, withdrawn_at__isnull=True),
                name="shared_document_library_item_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Shared document #{self.pk}"

    @property
    def is_clinical(self) -> bool:
        return self.kind in CLINICAL_KINDS

    @property
    def stored(self) -> models.fields.files.FieldFile:
        return self.library_item.file if self.library_item else self.file

    @property
    def file_name(self) -> str:
        return self.library_item.name if self.library_item else self.name

    @property
    def file_type(self) -> str:
        return self.library_item.content_type if self.library_item else self.content_type
