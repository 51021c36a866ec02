"""Bulk Data `$export` jobs (https://hl.org/fhir/uv/bulkdata/export.html) and the NDJSON
files they leave. Both are named by random UUIDs: the status and file URLs are handed to a
client, and a guessable counter would tell it how many exports others ran."""

import uuid

from django.conf import settings
from django.db import models


class BulkExport(models.Model):
    class Level(models.TextChoices):
        SYSTEM = "system"  # GET [base]/$export: the practice's data
        PATIENTS = "patients"  # GET [base]/Patient/$export: every patient of the practice
        GROUP = "group"  # GET [base]/Group/[id]/$export: one provider's care-team panel
        PATIENT = "patient"  # GET [base]/Patient/[id]/$export: one patient

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    practice = models.ForeignKey(
        "accounts.Practice", on_delete=models.CASCADE, related_name="bulk_exports"
    )
    # Only the requester sees the job.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bulk_exports"
    )
    level = models.CharField(max_length=10, choices=Level.choices)
    # The group's or the patient's id for those levels; empty otherwise.
    target_id = models.CharField(max_length=64, blank=True)
    types = models.JSONField(help_text="The resource types to export, in order")
    since = models.DateTimeField(null=True, blank=True)
    request_url = models.CharField(max_length=2000, help_text="The kick-off URL (manifest)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.CharField(max_length=200, blank=True, help_text="X-Progress; never PHI")
    error = models.CharField(max_length=300, blank=True, help_text="Why it failed; never PHI")
    created_at = models.DateTimeField(auto_now_add=True)
    transaction_time = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["requested_by", "created_at"])]

    def __str__(self) -> str:
        return f"$export {self.id} ({self.level}, {self.status})"


class BulkExportFile(models.Model):
    """One resource type's NDJSON, encrypted at rest in chunks (telehealth.crypto.streams)
    under MEDIA_ROOT; `path` is relative to the exports' folder."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export = models.ForeignKey(BulkExport, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=64)
    count = models.PositiveIntegerField()
    path = models.CharField(max_length=300)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["export", "resource_type"], name="bulk_export_file_one_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} ({self.count}) of {self.export_id}"
