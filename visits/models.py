"""Video visits: the visit, who took part and when, chat, and the clinician's note."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scheduling.models import Appointment
from telehealth.accounts.models import Patient, Practice, Provider, User
from telehealth.crypto.fields import EncryptedJSONField, EncryptedTextField

MAX_PARTICIPANTS = 4  # a peer-to-peer mesh; a larger visit moves to a group room (move_services)


class Visit(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        WAITING = "waiting", _("Waiting")
        IN_PROGRESS = "in_progress", _("In progress")
        ENDED = "ended", _("Ended")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="visits")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    provider = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="visits"
    )
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="visit"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.SCHEDULED)
    audio_only = models.BooleanField(
        default=False,
        help_text="Recorded as audio-only for billing: a phone visit, or no patient video.",
    )
    patient_video = models.BooleanField(
        default=False, help_text="The patient sent video at some point in the visit."
    )
    provider_status = EncryptedTextField(
        blank=True,
        help_text='Shown to the waiting patient, e.g. "Running 5 minutes late".',
    )
    # Where the patient is during a video or phone visit, as they answered in the waiting
    # room: licensure, place of service and payment follow it. Until they answer, the
    # appointment's booking answer stands in (visits.selectors.location_of).
    patient_state = models.CharField(
        max_length=2, blank=True, help_text="Two-letter US state the patient is in."
    )
    patient_at_home = models.BooleanField(
        null=True, blank=True, help_text="At home (place of service 10) or somewhere else (02)."
    )
    location_confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the patient said where they are."
    )
    waiting_since = models.DateTimeField(null=True, blank=True)
    admitted_by = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The clinician who admitted the patient: the one checked for licensure.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    summary_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the patient was sent their after-visit summary."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["practice", "state"]),
            # The practice figures: visits that ended in a period.
            models.Index(fields=["practice", "ended_at"], name="visit_practice_ended_at"),
        ]
        constraints = [
            # An answer is whole: a state and home-or-not, with its time; or nothing yet.
            models.CheckConstraint(
                condition=(
                    models.Q(
                        location_confirmed_at__isnull=True,
                        patient_state="",
                        patient_at_home__isnull=True,
                    )
                    | (
                        models.Q(location_confirmed_at__isnull=False, patient_at_home__isnull=False)
                        & ~models.Q(patient_state="")
                    )
                ),
                name="visit_location_answered_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"Visit #{self.pk} ({self.state})"

    @property
    def duration_seconds(self) -> int:
        if not self.started_at:
            return 0
        return int(((self.ended_at or timezone.now()) - self.started_at).total_seconds())

    @property
    def duration_minutes(self) -> int:
        return round(self.duration_seconds / 60)


class Participant(models.Model):
    class Role(models.TextChoices):
        PATIENT = "patient", _("Patient")
        CLINICIAN = "clinician", _("Clinician")
        OBSERVER = "observer", _("Observer")
        GUEST = "guest", _("Guest")

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=10, choices=Role.choices)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="visit_participations"
    )
    display_name = models.CharField(max_length=120)
    admitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "user"],
                condition=models.Q(user__isnull=False),
                name="participant_once_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.role})"


class Presence(models.Model):
    """One stretch of a participant in the room: billing's time-based codes add these up."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="presences")
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at"]

    def __str__(self) -> str:
        return f"{self.participant} {self.joined_at:%H:%M}-{self.left_at or ''}"


class ChatMessage(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="chat")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT)
    body = EncryptedTextField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"Chat #{self.pk}"


class VisitNote(models.Model):
    """A SOAP note: autosaved while open, then signed and locked; later changes are addenda."""

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="note")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    soap = EncryptedJSONField(default=dict)  # {"subjective": ..., "objective": ..., ...}
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Note of visit #{self.visit_id}"


class NoteAddendum(models.Model):
    note = models.ForeignKey(VisitNote, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Addendum #{self.pk}"


class GuestInvite(models.Model):
    """A one-time link a clinician makes for a family member or interpreter. Only a hash of
    the token is kept; the link works once, before it expires."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="invites")
    token_hash = models.CharField(max_length=64, unique=True)
    display_name = models.CharField(max_length=120)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    participant = models.OneToOneField(
        Participant, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite"
    )

    def __str__(self) -> str:
        return f"Invite for {self.display_name}"


# --- E-visits: patient-initiated, store-and-forward ----------------------------------------


class EVisitCondition(models.Model):
    """A condition patients may start an e-visit for, with the intake form they answer and
    how soon the practice promises a first answer."""

    practice = models.ForeignKey(
        Practice, on_delete=models.CASCADE, related_name="evisit_conditions"
    )
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    form = models.ForeignKey(
        "intake.Form",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The questionnaire the patient answers.",
    )
    sla_business_hours = models.PositiveSmallIntegerField(
        default=8, help_text="First answer due within this many business hours of submission."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "slug"], name="evisit_condition_slug"),
            models.CheckConstraint(
                condition=models.Q(sla_business_hours__gte=1), name="evisit_sla_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EVisit(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SUBMITTED = "submitted", _("Submitted")
        IN_REVIEW = "in_review", _("In review")
        AWAITING_PATIENT = "awaiting_patient", _("Waiting for your answer")
        COMPLETED = "completed", _("Completed")
        ESCALATED = "escalated", _("Needs a live visit")
        CANCELLED = "cancelled", _("Cancelled")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="evisits")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="evisits")
    condition = models.ForeignKey(EVisitCondition, on_delete=models.PROTECT, related_name="+")
    response = models.ForeignKey(
        "intake.Response", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    assigned_to = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="evisits_assigned"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="First answer due (the condition's SLA)."
    )
    first_action_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The first clinician action: the 7-day window of the time codes opens here.",
    )
    first_response_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Escalated or cancelled.")
    assessment = EncryptedTextField(blank=True)
    plan = EncryptedTextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["practice", "state", "due_at"])]
        constraints = [
            # A second "start" for the same condition resumes the draft (services).
            models.UniqueConstraint(
                fields=["patient", "condition"],
                condition=models.Q(state="draft"),
                name="evisit_one_draft_per_condition",
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft") | models.Q(submitted_at__isnull=False),
                name="evisit_submitted_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"E-visit #{self.pk} ({self.state})"


class EVisitMessage(models.Model):
    class Kind(models.TextChoices):
        QUESTION = "question", _("Question from your clinician")
        REPLY = "reply", _("Your answer")
        RESPONSE = "response", _("Response")

    evisit = models.ForeignKey(EVisit, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} of e-visit #{self.evisit_id}"


class EVisitPhoto(models.Model):
    """A photo as telehealth.photos made it: upright, scaled, no metadata; encrypted at rest
    by the default storage under a random name."""

    evisit = models.ForeignKey(EVisit, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to="evisits/%Y/%m/")
    name = EncryptedTextField()
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Photo #{self.pk} of e-visit #{self.evisit_id}"


class EVisitTime(models.Model):
    """Minutes a clinician spent on the case, for the online digital E/M codes."""

    evisit = models.ForeignKey(EVisit, on_delete=models.CASCADE, related_name="time_entries")
    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    minutes = models.PositiveSmallIntegerField()
    work_date = models.DateField()
    activity = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["work_date", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes__gte=1, minutes__lte=240), name="evisit_time_minutes"
            )
        ]

    def __str__(self) -> str:
        return f"{self.minutes} min on e-visit #{self.evisit_id}"


# --- E-consults: one clinician asks a specialist of the practice, in writing ---------------


class ConsultSpecialist(models.Model):
    """A clinician who answers e-consults from the other clinicians of their practice, in a
    specialty. They turn it on and off themselves; nobody else sees their inbox."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="consult_specialist")
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    specialty = models.CharField(max_length=80)
    accepting = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["specialty", "user__full_name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(specialty=""), name="consult_specialist_has_specialty"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.specialty})"


class EConsult(models.Model):
    """A case a clinician sends a specialist: the question and a snapshot of the records they
    chose, the specialist's questions back, the written answer, and both sides' time (the
    interprofessional codes). The patient agreed to it; they do not read the exchange."""

    class State(models.TextChoices):
        SENT = "sent", _("Waiting for the specialist")
        INFO_REQUESTED = "info_requested", _("The specialist asked a question")
        ANSWERED = "answered", _("Answered")
        DECLINED = "declined", _("Declined by the specialist")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="econsults")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="econsults")
    requester = models.ForeignKey(User, on_delete=models.PROTECT, related_name="econsults_sent")
    specialist = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="econsults_received"
    )
    specialty = models.CharField(max_length=80, help_text="The specialty asked, as it was then.")
    question = EncryptedTextField()
    patient_consent_at = models.DateTimeField(
        help_text="When the requester recorded that the patient agreed to the e-consult."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.SENT)
    sent_at = models.DateTimeField(default=timezone.now)
    answer = EncryptedTextField(blank=True)
    verbal_report = models.BooleanField(
        default=False,
        help_text="The specialist also discussed the answer with the requester by phone or video.",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_read_at = models.DateTimeField(
        null=True, blank=True, help_text="When the requester first opened the answer."
    )
    # Closed unanswered: declined by the specialist (with the reason the requester reads) or
    # withdrawn by the requester.
    decline_reason = EncryptedTextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [
            models.Index(fields=["specialist", "state"]),
            models.Index(fields=["requester", "state"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(requester=models.F("specialist")),
                name="econsult_not_to_oneself",
            ),
            models.CheckConstraint(
                condition=models.Q(state="answered", answered_at__isnull=False)
                | (~models.Q(state="answered") & models.Q(answered_at__isnull=True)),
                name="econsult_answered_has_time",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["declined", "withdrawn"], closed_at__isnull=False)
                | (
                    ~models.Q(state__in=["declined", "withdrawn"])
                    & models.Q(closed_at__isnull=True)
                ),
                name="econsult_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"E-consult #{self.pk} ({self.state})"


class EConsultMessage(models.Model):
    class Kind(models.TextChoices):
        QUESTION = "question", _("Question from the specialist")
        REPLY = "reply", _("Reply from the requesting clinician")

    econsult = models.ForeignKey(EConsult, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} of e-consult #{self.econsult_id}"


class EConsultRecord(models.Model):
    """One record the requester included, copied when the case was sent: the specialist reads
    what was sent (rows of label and value, or a file), not the chart, and a document withdrawn
    later still reads as it was."""

    class Kind(models.TextChoices):
        VITALS = "vitals", _("Latest vitals")
        READINGS = "readings", _("Recent readings")
        ANSWERS = "answers", _("Form answers")
        PHOTO = "photo", _("E-visit photo")
        DOCUMENT = "document", _("Shared document")

    econsult = models.ForeignKey(EConsult, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = EncryptedTextField()
    rows = EncryptedJSONField(default=list)  # [[label, value], ...]
    file = models.FileField(upload_to="econsults/%Y/%m/", blank=True)
    content_type = models.CharField(max_length=80, blank=True)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["econsult", "position"], name="econsult_record_order")
        ]

    def __str__(self) -> str:
        return f"Record {self.position} of e-consult #{self.econsult_id}"


class EConsultTime(models.Model):
    """Minutes one side spent on the case: the specialist's (99446-99449, 99451) or the
    requester's (99452). `discussion`: the specialist's minutes were consultative discussion
    with the requester rather than review of the records."""

    class Side(models.TextChoices):
        SPECIALIST = "specialist", _("Specialist")
        REQUESTER = "requester", _("Requesting clinician")

    econsult = models.ForeignKey(EConsult, on_delete=models.CASCADE, related_name="time_entries")
    clinician = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=10, choices=Side.choices)
    minutes = models.PositiveSmallIntegerField()
    discussion = models.BooleanField(default=False)
    work_date = models.DateField()
    activity = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["work_date", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes__gte=1, minutes__lte=240), name="econsult_time_minutes"
            ),
            models.CheckConstraint(
                condition=models.Q(side="specialist") | models.Q(discussion=False),
                name="econsult_time_discussion_is_the_specialists",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.minutes} min on e-consult #{self.econsult_id}"


# --- Group sessions: classes and group therapy through the media server (Janus) -------------

GROUP_MAX_CAPACITY = 50


class GroupSession(models.Model):
    """A scheduled group visit run by a host clinician (and co-hosts) for invited patients.
    Its media go through a Janus room, created on the first join on the least-loaded
    instance (visits/group_services.py); `capacity` is the number of patients in the room at
    once, hosts not counted."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    class Modality(models.TextChoices):
        VIDEO = "video", _("Video")
        AUDIO = "audio", _("Audio only")

    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="group_sessions")
    title = EncryptedTextField()  # "Opioid use disorder group" says something about each invitee
    host = models.ForeignKey(User, on_delete=models.PROTECT, related_name="group_sessions_hosted")
    co_hosts = models.ManyToManyField(User, blank=True, related_name="group_sessions_co_hosted")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField()
    # Patients of the practice may book a seat themselves while fewer than `capacity` are
    # invited or booked (a class open to all); otherwise only staff invite.
    open_for_booking = models.BooleanField(default=False)
    modality = models.CharField(max_length=8, choices=Modality.choices, default=Modality.VIDEO)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    # Where its room lives: set when the room is created, moved when its instance is lost.
    janus_instance = models.CharField(max_length=60, blank=True)
    janus_room = models.BigIntegerField(null=True, blank=True)
    room_pin = EncryptedTextField(blank=True)
    room_secret = EncryptedTextField(blank=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # A video visit moved here when it outgrew the peer-to-peer mesh (visits/move_services.py):
    # its note and billing stay on the visit; the room and attendance are this session's.
    visit = models.OneToOneField(
        Visit, null=True, blank=True, on_delete=models.PROTECT, related_name="group_session"
    )

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["practice", "starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=1, capacity__lte=GROUP_MAX_CAPACITY),
                name="group_session_capacity",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="group_session_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Group session #{self.pk}"


class GroupParticipant(models.Model):
    """A patient invited to (or booked into) a group session."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="invitees")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="group_sessions")
    show_full_name = models.BooleanField(
        default=False,
        help_text="Others in the room see the patient's full name rather than the first name.",
    )
    invited_at = models.DateTimeField(default=timezone.now)
    # Set when the patient booked the seat themselves (a session open for booking).
    booked_at = models.DateTimeField(null=True, blank=True)
    # Set when a host removes the patient from the room: they may not join again.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invited_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "patient"], name="group_participant_once"),
        ]

    def __str__(self) -> str:
        return f"Patient #{self.patient_id} in group session #{self.session_id}"


class GroupAttendance(models.Model):
    """One stretch of one person in the room, from a join to the leave (or removal): the
    minutes of group psychotherapy and education codes are summed from these. `feed` is the
    id the app gave the person's stream in the Janus room (host controls name it)."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    feed = models.BigIntegerField()
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    # A raised hand lives as long as the stretch: hosts see hands in the order raised.
    hand_raised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        indexes = [models.Index(fields=["session", "left_at"])]
        constraints = [
            # One open stretch per person: a second join while in the room reuses it.
            models.UniqueConstraint(
                fields=["session", "user"],
                condition=models.Q(left_at__isnull=True),
                name="group_attendance_one_open",
            ),
        ]

    def __str__(self) -> str:
        return f"Attendance #{self.pk} of group session #{self.session_id}"


class GroupWaiting(models.Model):
    """A patient's socket in the session's waiting room: one row per open socket (two tabs
    are two rows), gone when the socket closes or the patient is admitted. Hosts see the
    invitations that have a row, in the order they first arrived."""

    invitation = models.ForeignKey(
        GroupParticipant, on_delete=models.CASCADE, related_name="waiting"
    )
    channel = models.CharField(max_length=200, unique=True)
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["since", "id"]

    def __str__(self) -> str:
        return f"Waiting: invitation #{self.invitation_id}"


class GroupChatMessage(models.Model):
    """A text message to everyone in a group session's room. `patient` is the sender when a
    patient sent it (the audit trail and the chart know whose words these are)."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="chat")
    sender = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    body = EncryptedTextField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        return f"Group chat #{self.pk}"
