"""What an import from another EHR matched: the source's identifiers of a resource, and our
row they became, so importing the same file again matches instead of duplicating."""

from django.db import models
from django.utils import timezone

from telehealth.accounts.models import Practice
from telehealth.crypto.keys import blind_index


def identifier_key(system: str, value: str) -> str:
    """The stored form of a source identifier: a keyed hash of system|value. A record number
    is itself an identifier of the patient, so it is kept only as a blind index, enough to
    match the same identifier again and useless to read."""
    return blind_index(f"{system}|{value}")


class ImportedIdentifier(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    resource_type = models.CharField(max_length=40)  # "Patient", "Appointment"
    system = models.CharField(max_length=255)  # the source's identifier system, not PHI
    key = models.CharField(max_length=128)  # identifier_key(system, value)
    row_id = models.BigIntegerField()  # our row's primary key
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "resource_type", "key"], name="fhir_import_one_row_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} identifier in {self.system} → {self.row_id}"
