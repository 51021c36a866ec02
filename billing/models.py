"""Billing data: a practice's billing identity, its payers and fee schedule, and encounters
(what was done for a patient on a date) with their diagnoses and claim lines.

What is encrypted and why. Diagnoses name a patient's conditions: their codes and words are
encrypted like the rest of the clinical record (nothing searches them in SQL; the worklists
filter by status, provider and date). Procedure codes, charges and places of service stay
plain: they are what the worklists total per provider and month, and they say what service was
billed, not what the patient has. Reasons and problems are sentences our code writes from the
rules (never typed by a person), so they carry no free text from the chart.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.rules.records import PayerKind
from billing.suggestions import MAX_MODIFIERS, MAX_POINTERS
from telehealth.accounts.models import Patient, Practice, Provider, User
from telehealth.crypto.fields import EncryptedJSONField, EncryptedTextField
from visits.models import EConsult, EVisit, Visit

MAX_DIAGNOSES = 12  # an 837P claim carries at most twelve diagnosis codes (HI segments)


class BillingProfile(models.Model):
    """The practice as a billing provider (837P loop 2010AA) and as the submitter of claims
    to its clearinghouse (loops 1000A/1000B)."""

    practice = models.OneToOneField(
        Practice, on_delete=models.CASCADE, related_name="billing_profile"
    )
    billing_name = models.CharField(max_length=60)
    group_npi = models.CharField("group NPI", max_length=10)
    ein = models.CharField("EIN", max_length=9, help_text="Nine digits, no dash.")
    taxonomy = models.CharField(max_length=10, help_text="Provider taxonomy code, e.g. 207Q00000X")
    address_line = models.CharField(max_length=55)
    city = models.CharField(max_length=30)
    state = models.CharField(max_length=2)
    zip_code = models.CharField("ZIP+4", max_length=9, help_text="Nine digits.")
    submitter_id = models.CharField(max_length=80)
    submitter_contact = models.CharField(max_length=60)
    submitter_phone = models.CharField(max_length=10, help_text="Ten digits.")
    receiver_name = models.CharField(max_length=60, help_text="The clearinghouse.")
    receiver_id = models.CharField(max_length=80)
    # The last interchange control number used (ISA13): every 837P batch takes the next one
    # under a row lock on this profile, so two exports never share a number.
    last_control_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(zip_code__regex=r"^[0-9]{9}$"), name="billing_zip_has_nine_digits"
            ),
            models.CheckConstraint(
                condition=Q(group_npi__regex=r"^[0-9]{10}$"), name="billing_group_npi_ten_digits"
            ),
            models.CheckConstraint(condition=Q(ein__regex=r"^[0-9]{9}$"), name="billing_ein"),
        ]

    def __str__(self) -> str:
        return self.billing_name


class Payer(models.Model):
    """An insurer the practice bills, with the payer profile that decides its coding rules
    (billing/rules/payers.py). An insurance card names its payer; it is matched by name."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="payers")
    name = models.CharField(max_length=120)
    payer_id = models.CharField("electronic payer id", max_length=80)
    profile_kind = models.CharField(
        max_length=12, choices=[(kind.value, kind.value.title()) for kind in PayerKind]
    )
    profile_state = models.CharField(
        max_length=2, blank=True, help_text="Medicaid: the state whose own rules apply, if any."
    )
    profile_variant = models.CharField(
        max_length=60,
        blank=True,
        help_text='A named profile of the same kind, e.g. "commercial-telemedicine-codes".',
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "name"], name="payer_name_per_practice")
        ]

    def __str__(self) -> str:
        return self.name


class FeeScheduleEntry(models.Model):
    """The practice's charge for a code from a date on; the latest entry on or before the date
    of service applies."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="fees")
    code = models.CharField(max_length=5)
    charge = models.DecimalField(max_digits=9, decimal_places=2)
    effective_from = models.DateField()

    class Meta:
        ordering = ["code", "-effective_from"]
        verbose_name_plural = "fee schedule entries"
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "code", "effective_from"], name="fee_per_code_and_date"
            ),
            models.CheckConstraint(condition=Q(charge__gte=0), name="fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.charge} from {self.effective_from}"


class Encounter(models.Model):
    class Kind(models.TextChoices):
        VISIT = "visit", _("Visit")
        MONITORING = "monitoring", _("Monitoring period")
        EVISIT = "evisit", _("E-visit")
        ECONSULT = "econsult", _("E-consult")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        NEEDS_REVIEW = "needs_review", _("Needs review")
        READY = "ready", _("Ready to sign")
        SIGNED = "signed", _("Signed")
        EXPORTED = "exported", _("Exported")
        PAID = "paid", _("Paid")
        DENIED = "denied", _("Denied")

    class Modality(models.TextChoices):
        VIDEO = "video", _("Video")
        AUDIO_ONLY = "audio_only", _("Audio only")
        IN_PERSON = "in_person", _("In person")
        NONE = "", _("Not a visit")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="encounters")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="encounters")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # What the encounter was built from ("visit:<id>", "rpm:<patient>:<period start>"): unique
    # per practice, so pulling the same work twice, even at once, creates it once.
    source = models.CharField(max_length=80)
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    # An e-visit (kind "evisit"): the online case whose minutes over 7 days were coded.
    evisit = models.ForeignKey(
        EVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    # An e-consult (kind "econsult"): one encounter per side, the specialist's answer or the
    # requester's referral work; the side is the end of `source` ("econsult:<id>:<side>").
    econsult = models.ForeignKey(
        EConsult, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    rendering_provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    date_of_service = models.DateField()
    # Device supply and setup: the 30-day period billed, first and last day. No two device-
    # supply encounters of a patient may cover the same day, whatever their source says.
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    minutes = models.PositiveIntegerField(default=0)
    modality = models.CharField(max_length=12, choices=Modality.choices, blank=True)
    patient_state = models.CharField(max_length=2, blank=True)
    patient_at_home = models.BooleanField(null=True, blank=True)
    payer = models.ForeignKey(
        Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    # Reasons in plain words: what keeps it from being ready, what a person must check, and
    # what the documentation did not support ({"code": ..., "reason": ...}).
    problems = models.JSONField(default=list, blank=True)
    review_notes = models.JSONField(default=list, blank=True)
    not_billed = models.JSONField(default=list, blank=True)
    rules_version = models.CharField(max_length=120, blank=True)
    # How the clinician chose the E/M level: by total time (the default) or by the medical
    # decision-making level they pick (billing.coding.Basis, billing.rules.records.Mdm).
    coding_basis = models.CharField(max_length=4, default="time")
    mdm_level = models.CharField(max_length=16, blank=True)
    signed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    # The 837P batch that carried the claim, and what the payer answered (835).
    claim_batch = models.ForeignKey(
        "ClaimBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    remittance = models.ForeignKey(
        "Remittance", null=True, blank=True, on_delete=models.PROTECT, related_name="encounters"
    )
    payer_claim_number = models.CharField(max_length=50, blank=True)  # 835 CLP07
    paid_amount = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date_of_service", "-pk"]
        indexes = [
            models.Index(fields=["practice", "status", "date_of_service"]),
            models.Index(fields=["rendering_provider", "date_of_service"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["practice", "source"], name="encounter_source_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["monitoring", "evisit", "econsult"]) | Q(visit__isnull=False),
                name="encounter_visit_kind_has_visit",
            ),
            models.CheckConstraint(
                condition=~Q(kind="evisit") | Q(evisit__isnull=False, visit__isnull=True),
                name="encounter_evisit_kind_has_evisit",
            ),
            models.CheckConstraint(
                condition=~Q(kind="econsult")
                | Q(econsult__isnull=False, visit__isnull=True, evisit__isnull=True),
                name="encounter_econsult_kind_has_econsult",
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True, period_end__isnull=True)
                | Q(period_start__lte=F("period_end")),
                name="encounter_period_start_before_end",
            ),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True, signed_by__isnull=True)
                | Q(signed_at__isnull=False, signed_by__isnull=False),
                name="encounter_signed_by_and_at_together",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["signed", "exported", "paid", "denied"])
                | Q(signed_at__isnull=False),
                name="encounter_signed_states_are_signed",
            ),
        ]

    def __str__(self) -> str:
        return f"Encounter #{self.pk} ({self.get_status_display()})"

    @property
    def claim_number(self) -> str:
        """The claim's patient control number (837P CLM01), which the payer's 835 returns in
        CLP01: how a remittance finds its encounter."""
        return f"E{self.pk}"


class EncounterDiagnosis(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="diagnoses")
    position = models.PositiveSmallIntegerField()  # 1-12; claim lines point at it
    code = EncryptedTextField()  # ICD-10-CM with its dot, checked by billing.diagnoses
    description = EncryptedTextField()

    class Meta:
        ordering = ["position"]
        verbose_name_plural = "encounter diagnoses"
        constraints = [
            models.UniqueConstraint(
                fields=["encounter", "position"], name="diagnosis_position_once"
            ),
            models.CheckConstraint(
                condition=Q(position__gte=1, position__lte=MAX_DIAGNOSES),
                name="diagnosis_position_1_to_12",
            ),
        ]

    def __str__(self) -> str:
        return f"Diagnosis {self.position} of encounter #{self.encounter_id}"


class ClaimLine(models.Model):
    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=5)
    modifiers = models.JSONField(default=list, blank=True)
    place_of_service = models.CharField(max_length=2)
    units = models.PositiveSmallIntegerField(default=1)
    charge = models.DecimalField(max_digits=9, decimal_places=2)
    diagnosis_pointers = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)  # written by the rules, never typed by a person
    suggested = models.BooleanField(default=True)
    # What the payer answered for the line (835 SVC/CAS/LQ): paid amount, adjustments
    # ({"group", "reason", "amount"}) and remark codes; words come from billing.x12.codes.
    paid = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    adjustments = models.JSONField(default=list, blank=True)
    remarks = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "position"], name="claim_line_position"),
            models.CheckConstraint(condition=Q(position__gte=1), name="claim_line_position_1_up"),
            models.CheckConstraint(condition=Q(charge__gte=0), name="claim_line_charge_not_neg"),
            models.CheckConstraint(condition=Q(units__gte=1), name="claim_line_one_unit_or_more"),
            models.CheckConstraint(
                condition=Q(place_of_service__regex=r"^[0-9]{2}$"),
                name="claim_line_place_of_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} x{self.units}"

    def clean(self) -> None:
        if len(self.modifiers) > MAX_MODIFIERS:
            raise ValidationError({"modifiers": _("At most four modifiers.")})
        if len(self.diagnosis_pointers) > MAX_POINTERS:
            raise ValidationError({"diagnosis_pointers": _("At most four diagnosis pointers.")})


class EncounterAmendment(models.Model):
    """A change made to an encounter after it was signed: who, when, why and what changed.
    The reason and the changes may name the patient's conditions, so both are encrypted."""

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="amendments")
    changed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    reason = EncryptedTextField()
    changes = EncryptedJSONField(default=list)  # sentences: "Diagnosis 2: E11.9 → E11.65"

    class Meta:
        ordering = ["changed_at", "pk"]

    def __str__(self) -> str:
        return f"Amendment of encounter #{self.encounter_id}"


class ClaimBatch(models.Model):
    """One 837P interchange as it was downloaded: its control number (ISA13, GS06 and the
    claims' ST02 derive from it) and the file itself, which names patients and is encrypted."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="claim_batches")
    control_number = models.PositiveIntegerField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    content = EncryptedTextField()
    claim_count = models.PositiveIntegerField()
    total_charge = models.DecimalField(max_digits=11, decimal_places=2)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "claim batches"
        constraints = [
            models.UniqueConstraint(
                fields=["practice", "control_number"], name="claim_batch_control_number_once"
            )
        ]

    def __str__(self) -> str:
        return f"Claim batch {self.control_number:09d}"


class Remittance(models.Model):
    """An imported 835: the payment (TRN trace number, date, amount) and the file as received.
    Claims it names that are not ours are kept in `unmatched` and change nothing."""

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="remittances")
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(default=timezone.now)
    payer_name = models.CharField(max_length=120)
    trace_number = models.CharField(max_length=50)  # TRN02: the check or EFT number
    payment_date = models.DateField(null=True, blank=True)
    total_paid = models.DecimalField(max_digits=11, decimal_places=2)
    content = EncryptedTextField()
    matched_claims = models.PositiveIntegerField(default=0)
    # What the payment said about each claim it settled (status, amounts, the payer's claim
    # number, claim-level adjustments and remarks); the lines' own results are on ClaimLine.
    claims = EncryptedJSONField(default=list)
    # Claims it names that changed nothing: [{"claim": CLP01, "charge", "paid", "reason"}].
    unmatched = EncryptedJSONField(default=list)

    class Meta:
        ordering = ["-imported_at", "-pk"]
        constraints = [
            # The same payment imported twice would pay its claims twice.
            models.UniqueConstraint(
                fields=["practice", "payer_name", "trace_number"], name="remittance_once"
            )
        ]

    def __str__(self) -> str:
        return f"Remittance {self.trace_number} from {self.payer_name}"
