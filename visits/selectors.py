"""Reads of visits, scoped to the acting person: a signed-in user, or a patient who opened
their join link and passed the date-of-birth check (a grant kept in their session)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from scheduling.models import REMOTE_MODALITIES, Appointment
from telehealth.accounts.models import Provider, Role, User
from telehealth.accounts.selectors import patients_visible_to
from telehealth.aggregates import Percentile, SecondsBetween
from visits.models import Participant, Presence, Visit, VisitNote

GRANTS_KEY = "visit_grants"  # session: {visit_id: patient_id}
GUEST_KEY = "visit_guests"  # session: {visit_id: participant_id} from a guest invitation


def visits_visible_to(user: User) -> QuerySet[Visit]:
    visits = Visit.objects.select_related("patient", "provider", "appointment", "practice")
    if not user.is_authenticated:
        return visits.none()
    if user.role == Role.PATIENT:
        return visits.filter(patient__user=user)
    if user.practice_id is None:
        return visits.none()
    if user.role == Role.CLINICIAN:
        return visits.filter(practice_id=user.practice_id, patient__in=patients_visible_to(user))
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return visits.filter(practice_id=user.practice_id)
    return visits.none()


def access_visit(*, user: User, visit_id: int) -> Visit:
    return get_object_or_404(visits_visible_to(user), pk=visit_id)


def granted_patient_visit(*, session, visit_id: int) -> Visit:
    """The visit a join-link grant in this session opens, or 404."""
    patient_id = session.get(GRANTS_KEY, {}).get(str(visit_id))
    if not patient_id:
        raise Http404
    return get_object_or_404(
        Visit.objects.select_related("patient", "provider", "practice"),
        pk=visit_id,
        patient_id=patient_id,
    )


def granted_guest_visit(*, session, visit_id: int) -> tuple[Visit, Participant]:
    """The visit and guest participant of a guest invitation redeemed in this session."""
    participant_id = session.get(GUEST_KEY, {}).get(str(visit_id))
    if not participant_id:
        raise Http404
    participant = get_object_or_404(
        Participant.objects.select_related("visit__patient", "visit__provider"),
        pk=participant_id,
        visit_id=visit_id,
        role=Participant.Role.GUEST,
    )
    return participant.visit, participant


def participant_for(*, visit: Visit, user: User | None, session) -> Participant | None:
    """Who this connection is in the visit: by user, else the patient of a session grant."""
    if user is not None and user.is_authenticated:
        found = visit.participants.filter(user=user).first()
        if found is not None or user.role != Role.PATIENT:
            return found
    if not session:
        return None
    patient_id = session.get(GRANTS_KEY, {}).get(str(visit.pk))
    if patient_id and patient_id == visit.patient_id:
        return visit.participants.filter(role=Participant.Role.PATIENT).first()
    guest_id = session.get(GUEST_KEY, {}).get(str(visit.pk))
    if guest_id:
        return visit.participants.filter(pk=guest_id, role=Participant.Role.GUEST).first()
    return None


def waiting_patients_ahead(*, visit: Visit) -> int:
    """How many patients of the same provider have waited longer (the patient's place)."""
    if visit.waiting_since is None:
        return 0
    waiting = Visit.objects.filter(state=Visit.State.WAITING, waiting_since__lt=visit.waiting_since)
    if visit.provider_id is None:
        # An untaken walk-in: `provider_id=None` would count every practice's walk-ins.
        waiting = waiting.filter(practice_id=visit.practice_id, provider__isnull=True)
    else:
        waiting = waiting.filter(provider_id=visit.provider_id)
    return waiting.count()


def walk_in_queue(*, user: User) -> QuerySet[Visit]:
    """Patients asking to be seen now, longest waiting first. Staff of their practice only:
    the queue is how a clinician outside the care team comes to see them."""
    if user.role not in (Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return Visit.objects.none()
    if user.practice_id is None:
        return Visit.objects.none()
    return (
        Visit.objects.filter(
            practice_id=user.practice_id, appointment__isnull=True, state=Visit.State.WAITING
        )
        .select_related("patient")
        .order_by("waiting_since")
    )


def patient_visit_for_summary(*, user: User, session, visit_id: int) -> Visit:
    """A patient's own ended visit, by portal login or by a grant from a join or summary
    link; 404 otherwise."""
    if user.is_authenticated and user.role == Role.PATIENT:
        visit = access_visit(user=user, visit_id=visit_id)
    elif user.is_authenticated:
        raise Http404
    else:
        visit = granted_patient_visit(session=session, visit_id=visit_id)
    if visit.state != Visit.State.ENDED:
        raise Http404
    return visit


def signed_note(visit: Visit) -> VisitNote | None:
    return (
        VisitNote.objects.filter(visit=visit, signed_at__isnull=False)
        .prefetch_related("addenda__author")
        .select_related("signed_by")
        .first()
    )


def minutes_by_participant(*, visit: Visit) -> list[tuple[Participant, int]]:
    """Each participant with the minutes they were in the room (billing's time-based codes)."""
    now = timezone.now()
    rows = []
    for participant in visit.participants.prefetch_related("presences"):
        seconds = sum(
            ((p.left_at or now) - p.joined_at).total_seconds() for p in participant.presences.all()
        )
        rows.append((participant, round(seconds / 60)))
    return rows


def previous_visits(*, user: User, visit: Visit, limit: int = 3) -> QuerySet[Visit]:
    """The patient's earlier ended visits this user may see, newest first, with their notes."""
    return (
        visits_visible_to(user)
        .filter(patient_id=visit.patient_id, state=Visit.State.ENDED)
        .exclude(pk=visit.pk)
        .select_related("note")
        .order_by("-ended_at")[:limit]
    )


def patient_visit_history(*, user: User, patient_id: int) -> QuerySet[Visit]:
    """A patient's visits for their chart, newest first."""
    return (
        visits_visible_to(user)
        .filter(patient_id=patient_id)
        .exclude(state=Visit.State.SCHEDULED)
        .select_related("provider", "note")
        .order_by("-created_at")
    )


def ended_visits(*, ended_by: datetime) -> QuerySet[Visit]:
    """Every practice's visits that took place and ended by a time: a system read for the
    periodic jobs that work on finished visits (billing pulls these and keeps what it has not
    billed). A visit ended without starting (a no-show, a refused admission) is left out."""
    return (
        Visit.objects.filter(
            state=Visit.State.ENDED, started_at__isnull=False, ended_at__lte=ended_by
        )
        .select_related("practice", "patient", "provider__user", "appointment")
        .order_by("ended_at", "pk")
    )


def seen_before(*, visit: Visit, since: datetime) -> bool:
    """Whether the patient had a visit that took place in the practice, with a clinician of
    the same specialty, between `since` and this visit's start (new versus established
    patient). A visit that never started (the admission is where started_at is set) does
    not count."""
    started = visit.started_at or visit.created_at
    earlier = Visit.objects.filter(
        practice_id=visit.practice_id,
        patient_id=visit.patient_id,
        state=Visit.State.ENDED,
        started_at__isnull=False,
        ended_at__gte=since,
        ended_at__lt=started,
    ).exclude(pk=visit.pk)
    if visit.provider is not None:
        earlier = earlier.filter(provider__specialty=visit.provider.specialty)
    return earlier.exists()


def clinician_minutes(*, visit: Visit, provider: Provider | None = None) -> int:
    """Minutes a clinician (the visit's provider unless named) was in the started visit, from
    their recorded presence: overlapping stretches (two tabs, a reconnect recorded before the
    disconnect) count once, and only the time between the visit's start and end counts."""
    provider = provider or visit.provider
    if provider is None or visit.started_at is None:
        return 0
    return minutes_present(
        visit,
        Presence.objects.filter(
            participant__visit=visit, participant__user_id=provider.user_id
        ).values_list("joined_at", "left_at"),
    )


def minutes_present(visit: Visit, presences: Iterable[tuple[datetime, datetime | None]]) -> int:
    """Minutes covered by (joined, left) stretches of one person in a started visit, between its
    start and end (now while it runs), overlaps counted once."""
    assert visit.started_at is not None
    end = visit.ended_at or timezone.now()
    stretches = sorted(
        (max(joined, visit.started_at), min(left or end, end)) for joined, left in presences
    )
    seconds = 0.0
    covered_until = visit.started_at
    for joined, left in stretches:
        joined = max(joined, covered_until)
        if left > joined:
            seconds += (left - joined).total_seconds()
            covered_until = left
    return round(seconds / 60)


def rendering_clinician(visit: Visit) -> Provider | None:
    """Who rendered the visit for billing: the clinician who admitted the patient (the one
    checked for licensure where the patient was), else the visit's provider."""
    if visit.admitted_by_id is not None:
        provider = Provider.objects.filter(user_id=visit.admitted_by_id).first()
        if provider is not None:
            return provider
    return visit.provider


def note_is_signed(visit: Visit) -> bool:
    return VisitNote.objects.filter(visit=visit, signed_at__isnull=False).exists()


ANSWERED = "answered"  # the patient said so in the waiting room
FROM_BOOKING = "booking"  # what they said when booking stands in until they answer
NOT_GIVEN = "not_given"  # neither (a walk-in before answering)


@dataclass(frozen=True)
class PatientLocation:
    """Where the patient is for a visit, and who said so."""

    state: str  # two-letter US state; "" when not given
    at_home: bool | None  # None: not known (a booking names only the state)
    source: str  # ANSWERED, FROM_BOOKING or NOT_GIVEN
    confirmed_at: datetime | None = None

    @property
    def answered(self) -> bool:
        return self.source == ANSWERED


def booked_location(appointment: Appointment | None) -> PatientLocation:
    """The state given at booking. Never the patient record's state: people travel, and the
    record may be years old."""
    if appointment is not None and appointment.patient_state:
        return PatientLocation(state=appointment.patient_state, at_home=None, source=FROM_BOOKING)
    return PatientLocation(state="", at_home=None, source=NOT_GIVEN)


def location_of(visit: Visit) -> PatientLocation:
    """Where the patient is: their waiting-room answer, else their booking answer."""
    if visit.location_confirmed_at is not None:
        return PatientLocation(
            state=visit.patient_state,
            at_home=visit.patient_at_home,
            source=ANSWERED,
            confirmed_at=visit.location_confirmed_at,
        )
    return booked_location(visit.appointment)


def location_of_appointment(appointment: Appointment) -> PatientLocation:
    """For a schedule row: its visit's location once the visit exists, else the booking's."""
    try:
        visit = appointment.visit
    except ObjectDoesNotExist:
        return booked_location(appointment)
    return location_of(visit)


def is_remote(visit: Visit) -> bool:
    """Video or phone: a walk-in is a video visit; in-person visits have no licensure rule
    here (the clinic is where the clinician is licensed)."""
    return visit.appointment is None or visit.appointment.modality in REMOTE_MODALITIES


def licensed_where_patient_is(*, provider: Provider | None, location: PatientLocation) -> bool:
    """A remote visit needs a clinician licensed in the state the patient is in; a location
    nobody gave licenses no one."""
    return provider is not None and bool(location.state) and provider.is_licensed_in(location.state)


def admission_refused_at(*, visit: Visit, clinician: User) -> PatientLocation | None:
    """The patient's location when `clinician` may not start this visit there, else None."""
    if not is_remote(visit):
        return None
    location = location_of(visit)
    provider = Provider.objects.filter(user=clinician).first()
    if licensed_where_patient_is(provider=provider, location=location):
        return None
    return location


def join_refused_at(*, visit: Visit, clinician: User) -> PatientLocation | None:
    """The patient's location when `clinician` may not join this started visit there, else
    None. Until the patient is admitted, admission is the check (admission_refused_at). The
    admitting clinician was checked then, and a clinician who entered after the admission was
    checked on entering: a later move of the patient warns them in the room instead (cutting
    a call mid-visit is the greater risk)."""
    patient = visit.participants.filter(role=Participant.Role.PATIENT).first()
    if patient is None or patient.admitted_at is None or visit.admitted_by_id == clinician.pk:
        return None
    entered = visit.participants.filter(user=clinician, role=Participant.Role.CLINICIAN).first()
    if entered is not None and entered.admitted_at and entered.admitted_at >= patient.admitted_at:
        return None
    return admission_refused_at(visit=visit, clinician=clinician)


def unlicensed_in_room(visit: Visit) -> list[Participant]:
    """The clinicians in a started remote visit who are not licensed where the patient now
    is (the patient moved, or answered, during the visit)."""
    if visit.state != Visit.State.IN_PROGRESS or not is_remote(visit):
        return []
    location = location_of(visit)
    if not location.state:
        return []
    clinicians = list(
        visit.participants.filter(role=Participant.Role.CLINICIAN, user__isnull=False)
    )
    providers: dict[int | None, Provider] = {
        p.user_id: p for p in Provider.objects.filter(user_id__in=[c.user_id for c in clinicians])
    }
    return [
        clinician
        for clinician in clinicians
        if not licensed_where_patient_is(
            provider=providers.get(clinician.user_id), location=location
        )
    ]


def provider_unlicensed_at(visit: Visit) -> PatientLocation | None:
    """The patient's known location when the visit's own provider is not licensed there (the
    waiting patient and the front desk are told before anyone tries to admit)."""
    if visit.provider is None or not is_remote(visit):
        return None
    location = location_of(visit)
    if not location.state or licensed_where_patient_is(provider=visit.provider, location=location):
        return None
    return location


# Reads of many ended visits at once, for periodic jobs that work through them in batches
# (billing's pull): each gives what its one-visit namesake above gives, in one query.


def rendering_clinicians(visits: Sequence[Visit]) -> dict[int, Provider | None]:
    """`rendering_clinician` of each visit, by visit id."""
    admitted = {visit.admitted_by_id for visit in visits if visit.admitted_by_id is not None}
    providers = (
        {p.user_id: p for p in Provider.objects.filter(user_id__in=admitted)} if admitted else {}
    )
    return {
        visit.pk: (
            providers.get(visit.admitted_by_id) if visit.admitted_by_id is not None else None
        )
        or visit.provider
        for visit in visits
    }


def presences_by_person(visits: Sequence[Visit]) -> dict[tuple[int, int], list]:
    """Every (joined, left) stretch of the visits' signed-in participants, by (visit id, user
    id): `minutes_present` of one of them is their `clinician_minutes`."""
    stretches: dict[tuple[int, int], list] = {}
    rows = Presence.objects.filter(
        participant__visit_id__in=[visit.pk for visit in visits],
        participant__user_id__isnull=False,
    ).values_list("participant__visit_id", "participant__user_id", "joined_at", "left_at")
    for visit_id, user_id, joined, left in rows:
        stretches.setdefault((visit_id, user_id), []).append((joined, left))
    return stretches


def seen_before_among(pairs: Sequence[tuple[Visit, datetime]]) -> set[int]:
    """The ids of the visits for which `seen_before(visit=, since=)` holds, for (visit, since)
    pairs."""
    if not pairs:
        return set()
    earliest = min(since for _visit, since in pairs)
    latest = max(visit.started_at or visit.created_at for visit, _since in pairs)
    rows = Visit.objects.filter(
        patient_id__in={visit.patient_id for visit, _since in pairs},
        state=Visit.State.ENDED,
        started_at__isnull=False,
        ended_at__gte=earliest,
        ended_at__lt=latest,
    ).values_list("pk", "practice_id", "patient_id", "ended_at", "provider__specialty")
    earlier_by_patient: dict[int, list] = {}
    for row in rows:
        earlier_by_patient.setdefault(row[2], []).append(row)
    seen = set()
    for visit, since in pairs:
        started = visit.started_at or visit.created_at
        specialty = visit.provider.specialty if visit.provider is not None else None
        if any(
            pk != visit.pk
            and practice_id == visit.practice_id
            and since <= ended_at < started
            and (visit.provider is None or earlier_specialty == specialty)
            for pk, practice_id, _patient, ended_at, earlier_specialty in earlier_by_patient.get(
                visit.patient_id, ()
            )
        ):
            seen.add(visit.pk)
    return seen


def signed_note_visit_ids(visits: Sequence[Visit]) -> set[int]:
    """The ids of the visits whose note is signed (`note_is_signed`)."""
    return set(
        VisitNote.objects.filter(
            visit_id__in=[visit.pk for visit in visits], signed_at__isnull=False
        ).values_list("visit_id", flat=True)
    )


# --- Practice figures (read by analytics) ------------------------------------------------


@dataclass(frozen=True)
class VisitFigures:
    """The visits that ended in a period, as the practice's figures see them: counts and
    times (in seconds) only."""

    ended: int
    waited: int  # visits with both an arrival in the waiting room and a start
    wait_median: float | None
    wait_p90: float | None
    length_median: float | None
    length_p90: float | None
    video: int
    video_audio_only: int  # video visits that fell back to audio
    reconnected: int  # the patient spent more than one stretch in the room
    waits_by_bucket: list[int]  # visits whose wait falls in each [low, high) minute bucket


def visit_figures(
    *,
    user: User,
    start: datetime,
    end: datetime,
    provider_id: int | None = None,
    modality: str = "",
    wait_buckets: Sequence[tuple[int, int]] = (),
) -> VisitFigures | None:
    """The practice's visits that ended in [start, end), aggregated in two queries (None for
    anyone but a practice admin). wait_buckets: (low, high) minutes to count waits in."""
    if not user.is_authenticated or user.role != Role.PRACTICE_ADMIN or not user.practice_id:
        return None
    visits = Visit.objects.filter(
        practice_id=user.practice_id,
        state=Visit.State.ENDED,
        ended_at__gte=start,
        ended_at__lt=end,
    )
    if provider_id:
        visits = visits.filter(provider_id=provider_id)
    if modality:
        visits = visits.filter(appointment__modality=modality)
    video = Q(appointment__modality="video")
    buckets = {
        f"bucket_{n}": Count("pk", filter=Q(wait__gte=low * 60, wait__lt=high * 60))
        for n, (low, high) in enumerate(wait_buckets)
    }
    found = (
        visits.order_by()
        .annotate(
            wait=SecondsBetween("started_at", "waiting_since"),
            length=SecondsBetween("ended_at", "started_at"),
        )
        .aggregate(
            ended=Count("pk"),
            waited=Count("wait"),
            wait_median=Percentile("wait", 0.5),
            wait_p90=Percentile("wait", 0.9),
            length_median=Percentile("length", 0.5),
            length_p90=Percentile("length", 0.9),
            video=Count("pk", filter=video),
            video_audio_only=Count("pk", filter=video & Q(audio_only=True)),
            **buckets,
        )
    )
    # Visits where the patient spent more than one stretch in the room: grouped in a join,
    # not a subquery per visit (whose cost estimate also sets PostgreSQL's JIT compiling).
    reconnected = (
        Presence.objects.filter(
            participant__role=Participant.Role.PATIENT, participant__visit__in=visits
        )
        .order_by()
        .values("participant__visit")
        .annotate(stretches=Count("pk"))
        .filter(stretches__gt=1)
        .count()
    )
    return VisitFigures(
        **{key: value for key, value in found.items() if not key.startswith("bucket_")},
        reconnected=reconnected,
        waits_by_bucket=[found[key] for key in buckets],
    )
