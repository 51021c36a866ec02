"""Digital intake: forms defined as FHIR R4 Questionnaires (versioned), patients' answers as
encrypted QuestionnaireResponses, insurance cards, and consent documents with signatures.

A response records the exact form version it answered; a signature records the exact text
signed (its SHA-256) and keeps its own PDF, so editing a form or a consent later never
changes what a patient answered or signed."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scheduling.models import Appointment, AppointmentType
from telehealth.accounts.models import Patient, Practice, User
from telehealth.crypto.fields import EncryptedJSONField, EncryptedTextField


class Form(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="intake_forms")
    slug = models.SlugField(max_length=60)
    title = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    appointment_types = models.ManyToManyField(
        AppointmentType,
        blank=True,
        related_name="intake_forms",
        help_text="Patients booked for these visit types are asked to fill this form.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "slug"], name="intake_form_slug")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def current(self) -> "FormVersion | None":
        return self.versions.order_by("-version").first()


class FormVersion(models.Model):
    """One saved definition. Never edited: a change saves the next version."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    questionnaire = models.JSONField()  # FHIR R4 Questionnaire, validated before saving
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["form", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["form", "version"], name="intake_form_version")
        ]

    def __str__(self) -> str:
        return f"{self.form} v{self.version}"


class Response(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "in-progress", _("Started")
        COMPLETED = "completed", _("Complete")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="intake_responses")
    form_version = models.ForeignKey(FormVersion, on_delete=models.PROTECT, related_name="+")
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    answers = EncryptedJSONField(default=dict)  # {linkId: [values]} while being filled
    resource = EncryptedJSONField(default=dict)  # the FHIR QuestionnaireResponse, on completion
    scores = EncryptedJSONField(default=dict)  # {"phq9": {"total": 12, "band": "moderate"}}
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["patient", "status"])]
        constraints = [
            # Two tabs or a double click must resume one response, not start two. Per version
            # (a constraint cannot reach the form through it): a response keeps its version, and
            # services.response_for resumes any open one of the form before creating.
            models.UniqueConstraint(
                fields=["patient", "form_version"],
                condition=models.Q(status="in-progress"),
                name="intake_one_open_response",
            )
        ]

    def __str__(self) -> str:
        return f"Response #{self.pk} ({self.status})"


class ResponseFile(models.Model):
    """A file answering an attachment question (a photo of a rash, a letter)."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="files")
    link_id = models.CharField(max_length=100)
    file = models.FileField(upload_to="intake/%Y/%m/")  # encrypted by the default storage
    name = EncryptedTextField()
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"File #{self.pk} of response #{self.response_id}"


class IntakeRequest(models.Model):
    """The hand-off from scheduling: one per appointment whose type asks for forms (the
    periodic task pulls new bookings and marks them here, so each is asked once)."""

    appointment = models.OneToOneField(
        Appointment, on_delete=models.CASCADE, related_name="intake_request"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Intake request for appointment #{self.appointment_id}"


class InsuranceCard(models.Model):
    class Relationship(models.TextChoices):
        SELF = "self", _("Self")
        SPOUSE = "spouse", _("Spouse")
        CHILD = "child", _("Child")
        OTHER = "other", _("Other")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="insurance_cards")
    payer = models.CharField(max_length=120)
    member_id = EncryptedTextField()
    group_number = EncryptedTextField(blank=True)
    subscriber_name = EncryptedTextField()
    relationship = models.CharField(
        max_length=8, choices=Relationship.choices, default=Relationship.SELF
    )
    # The policy holder's own details, asked only when the patient is not the policy holder
    # (a claim's subscriber loop needs them; for "self" the patient's record is used). They
    # describe another person, so they are encrypted like the member id: the birth date as
    # ISO text, sex as accounts' Sex value, the address as {line1, line2, city, state,
    # postal_code} like Patient.address.
    subscriber_birth_date = EncryptedTextField(blank=True)
    subscriber_sex = EncryptedTextField(blank=True)
    subscriber_address = EncryptedJSONField(default=dict, blank=True)
    front = models.FileField(upload_to="insurance/%Y/%m/")  # encrypted by the default storage
    front_type = models.CharField(max_length=20)
    back = models.FileField(upload_to="insurance/%Y/%m/", blank=True)
    back_type = models.CharField(max_length=20, blank=True)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.payer} card of patient #{self.patient_id}"


class ConsentDocument(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="consents")
    slug = models.SlugField(max_length=60)
    title = models.CharField(max_length=120)
    required_for_visits = models.BooleanField(
        default=True, help_text="Patients sign it before their first visit."
    )

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["practice", "slug"], name="consent_slug")]

    def __str__(self) -> str:
        return self.title

    @property
    def current(self) -> "ConsentVersion | None":
        return self.versions.order_by("-version").first()


class ConsentVersion(models.Model):
    document = models.ForeignKey(ConsentDocument, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["document", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["document", "version"], name="consent_version")
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.version}"


class Signature(models.Model):
    class Method(models.TextChoices):
        DRAWN = "drawn", _("Drawn")
        TYPED = "typed", _("Typed")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="signatures")
    consent = models.ForeignKey(ConsentVersion, on_delete=models.PROTECT, related_name="+")
    signer_name = EncryptedTextField()
    method = models.CharField(max_length=6, choices=Method.choices)
    image = models.FileField(upload_to="signatures/%Y/%m/", blank=True)  # PNG of a drawing
    text_sha256 = models.CharField(max_length=64)  # of the exact text shown and signed
    signed_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    pdf = models.FileField(upload_to="signed/%Y/%m/")

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"Signature #{self.pk}"
