"""Post-visit surveys and the practice's review-request settings."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telehealth.accounts.models import Patient, Practice, Provider, User
from telehealth.crypto.fields import EncryptedTextField
from visits.models import Visit


class FeedbackSettings(models.Model):
    """Where a practice sends happy patients to review it, and whether it asks them."""

    practice = models.OneToOneField(
        Practice, on_delete=models.CASCADE, related_name="feedback_settings"
    )
    review_url = models.URLField(
        _("public review page"),
        max_length=500,
        blank=True,
        help_text=_("The https address of the practice's page on Google, Yelp or similar."),
    )
    invite_reviews = models.BooleanField(
        _("invite patients who rated their visit 4 or 5 to leave a public review"),
        default=False,
    )
    review_interval_days = models.PositiveSmallIntegerField(
        _("days between two review requests to the same patient"), default=365
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feedback settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(review_interval_days__gte=30),
                name="feedback_review_interval_at_least_30_days",
            ),
        ]

    def __str__(self) -> str:
        return f"Feedback settings of practice {self.practice_id}"


class Survey(models.Model):
    """One survey per ended visit (the unique visit is the guard against a second one).
    Answered once; the comment is the patient's own words, so encrypted."""

    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="survey")
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="surveys")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="surveys")
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.SET_NULL, related_name="surveys"
    )
    modality = models.CharField(max_length=12, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    satisfaction = models.PositiveSmallIntegerField(null=True, blank=True)
    ease = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = EncryptedTextField(blank=True)
    # "Don't ask me for reviews": holds for every later survey of this patient too.
    no_review_requests = models.BooleanField(default=False)
    review_requested_at = models.DateTimeField(null=True, blank=True)
    review_requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["practice", "created_at"]),
            models.Index(fields=["patient", "review_requested_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(satisfaction__isnull=True)
                | models.Q(satisfaction__gte=1, satisfaction__lte=5),
                name="survey_satisfaction_1_to_5",
            ),
            models.CheckConstraint(
                condition=models.Q(ease__isnull=True) | models.Q(ease__gte=1, ease__lte=5),
                name="survey_ease_1_to_5",
            ),
            models.CheckConstraint(
                condition=models.Q(answered_at__isnull=True)
                | models.Q(satisfaction__isnull=False, ease__isnull=False),
                name="survey_answered_has_scores",
            ),
        ]

    def __str__(self) -> str:
        return f"Survey of visit {self.visit_id}"
