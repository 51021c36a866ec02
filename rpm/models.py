"""Remote patient monitoring: enrolments, devices with their tokens, readings, thresholds,
alerts (one per episode) and clinicians' time.

Readings are numbers in canonical units (mmHg, /min, kg, mg/dL, %, °C), unique per device,
vital and measurement time, so a resent batch stores nothing twice; a reading its device
withdraws moves to WithdrawnReading. They are not encrypted:
rules and 90-day charts read tens of thousands of them at a time; free text (alert notes,
time-log notes) is."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, Practice, User
from telehealth.crypto.fields import EncryptedTextField


class Program(models.TextChoices):
    HYPERTENSION = "hypertension", _("Hypertension")
    DIABETES = "diabetes", _("Diabetes")
    HEART_FAILURE = "heart_failure", _("Heart failure")
    COPD = "copd", _("COPD")


class Vital(models.TextChoices):
    SYSTOLIC = "systolic", _("Systolic blood pressure")
    DIASTOLIC = "diastolic", _("Diastolic blood pressure")
    HEART_RATE = "heart_rate", _("Heart rate")
    WEIGHT = "weight", _("Weight")
    GLUCOSE = "glucose", _("Glucose")
    SPO2 = "spo2", _("Oxygen saturation")
    TEMPERATURE = "temperature", _("Body temperature")


class Enrollment(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="rpm_enrollments")
    program = models.CharField(max_length=16, choices=Program.choices)
    start_date = models.DateField(default=timezone.localdate)
    consent_at = models.DateTimeField(help_text="When the patient agreed to monitoring.")
    clinicians = models.ManyToManyField(User, related_name="rpm_enrollments")
    escalation_contact = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Told when a critical alert is not acknowledged in time.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "program"],
                condition=models.Q(is_active=True),
                name="rpm_one_active_enrollment_per_program",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient} in {self.program}"


class Device(models.Model):
    class Kind(models.TextChoices):
        BP_CUFF = "bp_cuff", _("Blood pressure cuff")
        GLUCOMETER = "glucometer", _("Glucose meter")
        CGM = "cgm", _("Continuous glucose monitor")
        SCALE = "scale", _("Scale")
        PULSE_OXIMETER = "pulse_oximeter", _("Pulse oximeter")
        THERMOMETER = "thermometer", _("Thermometer")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="rpm_devices")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    manufacturer = models.CharField(max_length=80, blank=True)
    serial = models.CharField(max_length=80, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)  # SHA-256; the token is shown once
    token_hint = models.CharField(max_length=8)  # the first characters, to tell tokens apart
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # What a reading's one foreign key points at (see Reading).
            models.UniqueConstraint(fields=["id", "patient"], name="rpm_device_id_patient")
        ]

    def __str__(self) -> str:
        # The label through the enum: get_kind_display() hashes every choice on each call,
        # which was most of the cost of an Observation in a FHIR search page.
        try:
            kind = str(Device.Kind(self.kind).label)
        except ValueError:  # a kind no longer offered
            kind = self.kind
        return f"{kind} {self.serial}".strip()


class Reading(models.Model):
    """A reading's patient is its device's patient. On PostgreSQL one composite foreign key,
    (device_id, patient_id) -> rpm_device (id, patient_id), guards both columns at once
    (migration 0005): one check per inserted row instead of two, and a reading can never name
    a patient other than its device's. Neither column has an index of its own: the unique
    (device, vital, measured_at) and the (patient, vital, measured_at) indexes lead with them,
    and every upload would otherwise write two more index entries a row."""

    patient = models.ForeignKey(
        Patient,
        on_delete=models.PROTECT,
        related_name="rpm_readings",
        db_index=False,
        db_constraint=False,
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.PROTECT,
        related_name="readings",
        db_index=False,
        db_constraint=False,
    )
    vital = models.CharField(max_length=12, choices=Vital.choices)
    value = models.FloatField()
    measured_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    # The sender's Observation.identifier ("system|value", each at most 255 characters), so
    # an entered-in-error or corrected Observation from the same device can name it.
    identifier = models.CharField(max_length=511, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "vital", "measured_at"], name="rpm_reading_once"
            )
        ]
        indexes = [
            models.Index(fields=["patient", "vital", "measured_at"]),
            models.Index(
                fields=["device", "identifier"],
                condition=~models.Q(identifier=""),
                name="rpm_reading_device_identifier",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vital} {self.value} at {self.measured_at:%Y-%m-%d %H:%M}"


class WithdrawnReading(models.Model):
    """A reading its device withdrew (an entered-in-error Observation), kept as it was for the
    chart's record. It moves here from Reading in the withdrawing transaction, so charts, rules
    and billing days, which read Reading, leave it out without a filter."""

    former_reading_id = models.BigIntegerField(help_text="Its id as a Reading, which audit names.")
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="rpm_withdrawn_readings"
    )
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="withdrawn_readings")
    vital = models.CharField(max_length=12, choices=Vital.choices)
    value = models.FloatField()
    measured_at = models.DateTimeField()
    received_at = models.DateTimeField()
    identifier = models.CharField(max_length=511, blank=True, default="")
    withdrawn_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["patient", "measured_at"])]

    def __str__(self) -> str:
        return f"{self.vital} {self.value} at {self.measured_at:%Y-%m-%d %H:%M} (withdrawn)"


class Baseline(models.Model):
    """A patient's usual for one vital, as the trend rule uses it: the median and MAD of their
    readings in the BASELINE_DAYS before `until` (a UTC midnight), or none (too few readings,
    or all alike). One row per patient and vital, for the day last asked about; a write of a
    reading from before `until` replaces or deletes it (see rpm.services.evaluate)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    vital = models.CharField(max_length=12, choices=Vital.choices)
    until = models.DateTimeField()
    median = models.FloatField(null=True)
    mad = models.FloatField(null=True)
    readings = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "vital"], name="rpm_baseline_once")
        ]

    def __str__(self) -> str:
        return f"{self.vital} baseline until {self.until:%Y-%m-%d}"


class Severity(models.TextChoices):
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Threshold(models.Model):
    """A limit on one vital: a practice's default for a program, or one patient's override
    (which replaces the practice's limits for that vital and severity)."""

    class Op(models.TextChoices):
        ABOVE_OR_AT = "ge", "≥"
        BELOW = "lt", "<"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="rpm_thresholds")
    program = models.CharField(max_length=16, choices=Program.choices, blank=True)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.CASCADE, related_name="rpm_thresholds"
    )
    vital = models.CharField(max_length=12, choices=Vital.choices)
    op = models.CharField(max_length=2, choices=Op.choices)
    value = models.FloatField()
    severity = models.CharField(max_length=8, choices=Severity.choices)

    def __str__(self) -> str:
        return f"{self.vital} {self.get_op_display()} {self.value} ({self.severity})"


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        RESOLVED = "resolved", _("Resolved")

    class Rule(models.TextChoices):
        THRESHOLD = "threshold", _("Threshold")
        TREND = "trend", _("Far from the patient's baseline")
        WEIGHT_GAIN = "weight_gain", _("Weight gain")
        MISSED = "missed", _("No readings")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="rpm_alerts")
    rule = models.CharField(max_length=12, choices=Rule.choices)
    vital = models.CharField(max_length=12, choices=Vital.choices, blank=True)
    # What makes readings the same episode: rule, vital, severity and direction.
    episode = models.CharField(max_length=80)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    summary = models.CharField(max_length=200)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    readings = models.ManyToManyField(Reading, blank=True, related_name="alerts")
    opened_at = models.DateTimeField(default=timezone.now)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = EncryptedTextField(blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "episode"],
                condition=~models.Q(status="resolved"),
                name="rpm_one_open_alert_per_episode",
            )
        ]

    def __str__(self) -> str:
        return f"{self.severity} alert: {self.summary}"


class TimeLog(models.Model):
    class Kind(models.TextChoices):
        MONITORING = "monitoring", _("Monitoring and review")
        INTERACTIVE = "interactive", _("Interactive communication with the patient")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="rpm_time")
    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    minutes = models.PositiveSmallIntegerField()
    day = models.DateField(default=timezone.localdate)
    note = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "-created_at"]

    def __str__(self) -> str:
        return f"{self.minutes} min {self.kind} on {self.day}"
