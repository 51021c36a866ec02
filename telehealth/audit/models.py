"""The append-only, hash-chained log of every access to PHI.

Design (chains per practice, one event per request):

- **Several chains per practice.** Every event carries `chain`: one of the chains of the
  practice it belongs to (the practice of the acting staff member, else of the patient or
  record it is about), or of `SYSTEM_CHAIN` (0) when there is none, e.g. a failed sign-in for
  an unknown email. A practice has `AUDIT_CHAINS_PER_PRACTICE` chains (shards); an event goes
  to the one its patient picks (else its actor), see `services.chain_for`. A writer locks only
  its chain's tail (`pg_advisory_xact_lock(class, key)` on PostgreSQL; SQLite's IMMEDIATE
  transactions still serialise every writer), so practice A's events never wait for practice
  B's, and two patients of one practice rarely wait for each other. The tail read is an index
  lookup on (chain, id desc). Shard 0's key is the practice's id: the chain every practice had
  before shards, which its events continue.
- **One event per page or request.** An event about one record keeps it in `object_type`,
  `object_id` and `patient`, as before. An event about several records (a schedule, a list, an
  export) leaves those blank and lists them as `AuditSubject` rows, written in one bulk insert.
  A patient's accounting of disclosures is `AuditEvent.objects.about_patient(patient)`.
- **Versioned hash.** `hash_version` 2 hashes the chain key and the event's sorted subjects
  with the rest of the row, so moving an event to another chain, or adding, removing or
  editing a subject, breaks the chain. Events written before chains existed keep version 1
  (their formula unchanged) and sit at the start of the system chain, which new system events
  continue; `manage.py verify_audit` walks every chain and names each one's first broken link.
- **Checkpoints.** A chain proves only what remains of it: deleting its newest events, or the
  whole table, leaves a shorter chain that verifies. `AuditCheckpoint` rows record each chain's
  head (last event, its hash, the number of events up to it), signed with the secret key, and
  each is also written to the log and to `AUDIT_CHECKPOINT_FILE`; `verify_audit` fails when a
  chain no longer reaches its last checkpoint (see checkpoints.py).
- On PostgreSQL a trigger refuses UPDATE and DELETE of events, their subjects and
  checkpoints."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    VIEW = "view", _("Viewed")
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    EXPORT = "export", _("Exported")
    LOGIN = "login", _("Logged in")
    LOGOUT = "logout", _("Logged out")
    LOGIN_FAILED = "login_failed", _("Login failed")
    MFA_FAILED = "mfa_failed", _("MFA failed")
    ADMIN_CHANGE = "admin_change", _("Admin change")
    BREAK_GLASS = "break_glass", _("Emergency access")


SYSTEM_CHAIN = 0
# A chain's key: the practice's id in the low 32 bits, the shard above them. Shard 0 is the
# practice's id alone, which is the key every practice's one chain had before shards.
SHARD_SHIFT = 32


def chain_key(practice_id: int, shard: int) -> int:
    """The key of one of a practice's chains. Practice ids that do not fit in 32 bits keep one
    chain (their id), so that no two practices ever share a key."""
    if shard == 0 or practice_id >> SHARD_SHIFT:
        return practice_id
    return shard << SHARD_SHIFT | practice_id


def chain_parts(chain: int) -> tuple[int, int]:
    """(practice id, shard) of a chain's key."""
    return chain & (2**SHARD_SHIFT - 1), chain >> SHARD_SHIFT


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def about_patient(self, patient) -> "AuditEventQuerySet":
        """Events about this patient's records: alone (`patient`) or among others (subjects)."""
        patient_id = getattr(patient, "pk", patient)
        listed = AuditSubject.objects.filter(patient_id=patient_id).order_by().values("event_id")
        alone = AuditEvent.objects.filter(patient_id=patient_id).order_by().values("pk")
        return self.filter(pk__in=alone.union(listed))

    def about_record(self, obj: models.Model) -> "AuditEventQuerySet":
        """Events about this record: alone or among others."""
        record = {"object_type": obj._meta.label, "object_id": str(obj.pk)}
        listed = AuditSubject.objects.filter(**record).order_by().values("event_id")
        alone = AuditEvent.objects.filter(**record).order_by().values("pk")
        return self.filter(pk__in=alone.union(listed))


class AuditEvent(models.Model):
    """One access. `hash` covers this row, its subjects and `previous_hash`, so editing or
    deleting any row breaks its chain from there on (`manage.py verify_audit` names the first
    broken link of each chain). On PostgreSQL a trigger refuses UPDATE and DELETE outright."""

    chain = models.PositiveBigIntegerField(
        default=SYSTEM_CHAIN, help_text="The practice's id, or 0 for the system chain"
    )
    hash_version = models.PositiveSmallIntegerField(
        help_text="1: before chains and subjects (the hash covers neither); 2: covers both"
    )

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(
        max_length=254, blank=True, help_text="User id and role at the time, never the email"
    )
    role = models.CharField(max_length=20, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient = models.ForeignKey(
        "accounts.Patient",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the index led by patient below serves every look-up by patient
        related_name="+",
    )
    detail = models.CharField(max_length=300, blank=True, help_text="Path, reason; never PHI")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["patient", "occurred_at"]),
            models.Index(fields=["chain", "-id"], name="audit_event_chain_tail"),
            # The accounting of one record (`about_record`).
            models.Index(fields=["object_type", "object_id"], name="audit_event_record"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


class AuditSubject(models.Model):
    """One of the records an event about several records showed or touched. Covered by its
    event's hash; never updated or deleted."""

    event = models.ForeignKey(AuditEvent, on_delete=models.DO_NOTHING, related_name="subjects")
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    patient = models.ForeignKey(
        "accounts.Patient",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the index led by patient below serves every look-up by patient
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["patient", "event"], name="audit_subject_patient"),
            # Not covering `event`: with it every entry is unique and PostgreSQL cannot
            # deduplicate a record listed on many pages (45 MB against 10 MB measured).
            models.Index(fields=["object_type", "object_id"], name="audit_subject_record"),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id}"


class AuditCheckpoint(models.Model):
    """A chain's head as it was seen at `taken_at`: the chain must still contain that event,
    with that hash, preceded by exactly `event_count - 1` events. `signature` is an HMAC with
    the secret key, so a row forged to bless a shortened chain is refused. Never updated or
    deleted; a chain that did not move since its last checkpoint gets no new row."""

    chain = models.PositiveBigIntegerField()
    last_event_id = models.PositiveBigIntegerField()
    head_hash = models.CharField(max_length=64)
    event_count = models.PositiveBigIntegerField()
    taken_at = models.DateTimeField()
    taken_by = models.CharField(max_length=40, help_text="The task or command that took it")
    signature = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["chain", "-last_event_id"], name="audit_checkpoint_chain_head")
        ]

    def __str__(self) -> str:
        return f"chain {self.chain} at event {self.last_event_id} ({self.event_count} events)"
