"""Writes of billing: encounters built from finished work, pulled on a schedule.

Billing sits on top of the other apps: it reads them through their selectors and they never
call it. The pull is idempotent through `Encounter.source`, unique per practice: a second run,
or a run at the same time on another worker, finds the row there and writes nothing.
"""

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing import monitoring
from billing.coding import PatientLocation, VisitFacts, suggest
from billing.diagnoses import DiagnosisRefused, for_claim
from billing.models import (
    BillingProfile,
    ClaimLine,
    Encounter,
    EncounterDiagnosis,
    FeeScheduleEntry,
    Payer,
)
from billing.rules import NoRulesError, monitoring_rules_on, payer_profile, visit_codes_on
from billing.rules.records import Modality, PatientStatus, PayerKind, PayerProfile
from billing.suggestions import Suggestion
from intake.models import InsuranceCard
from intake.selectors import current_insurance_card, current_insurance_cards
from rpm import selectors as rpm_selectors
from rpm.models import TimeLog
from rpm.selectors import MonitoringEpisode
from scheduling.models import Modality as BookedModality
from telehealth.accounts.display import state_name
from telehealth.accounts.models import Patient, Provider
from telehealth.audit import services as audit
from telehealth.audit.models import Action
from visits import selectors as visit_selectors
from visits.models import Visit

# CPT: a patient is new when no clinician of the same specialty in the group saw them in the
# three years before.
NEW_PATIENT_LOOKBACK = timedelta(days=3 * 365)
OFFICE = "11"  # place of service
PULL_LABEL = "billing: encounters from finished work"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    """What a pull did: encounters built, and items that failed (logged by id, retried on the
    next run)."""

    built: int = 0
    failed: int = 0


BATCH = 200  # visits or monitored patients whose facts are read together


class PullRun:
    """What one pull reads once instead of once per encounter: the facts of a batch of visits
    (rendering clinician, presences, earlier visits, signed notes) or monitored patients (what
    is billed already), patients' insurance cards, and the practice's set-up (billing profile,
    payers by the name on a card, fee schedule, providers). Set-up edited during a run counts
    from the next run. Outside a pull (a function called alone) every read is made as it is
    needed, as before."""

    def __init__(self) -> None:
        self.has_profile: dict[int, bool] = {}
        self.payers: dict[tuple[int, str], Payer | None] = {}
        self.fees: dict[int, dict[str, list[tuple[date, Decimal]]]] = {}
        self.providers: dict[int, Provider | None] = {}
        self.cards: dict[int, InsuranceCard | None] = {}
        self.rendering: dict[int, Provider | None] = {}
        self.presences: dict[int, dict[int, list]] = {}
        self.seen: set[int] = set()
        self.signed: set[int] = set()
        self.looked_at: set[int] = set()  # visits whose facts are read
        self.billed: dict[int, set[str]] = {}

    def read_visits(self, visits: Sequence[Visit]) -> None:
        """The facts of a batch of visits, replacing the previous batch's."""
        self.rendering = visit_selectors.rendering_clinicians(visits)
        self.presences = {}
        for (visit_id, user_id), stretches in visit_selectors.presences_by_person(visits).items():
            self.presences.setdefault(visit_id, {})[user_id] = stretches
        self.seen = visit_selectors.seen_before_among(
            [(visit, new_patient_since(visit)) for visit in visits]
        )
        self.signed = visit_selectors.signed_note_visit_ids(visits)
        self.read_cards(visit.patient_id for visit in visits)
        self.looked_at = {visit.pk for visit in visits}

    def read_patients(self, patients: Sequence[Patient]) -> None:
        """What a batch of monitored patients has billed already, and their cards."""
        self.billed = {patient.pk: set() for patient in patients}
        practice_of = {patient.pk: patient.practice_id for patient in patients}
        rows = Encounter.objects.filter(patient_id__in=list(practice_of)).values_list(
            "patient_id", "practice_id", "source"
        )
        for patient_id, practice_id, source in rows:
            if practice_of[patient_id] == practice_id:
                self.billed[patient_id].add(source)
        self.read_cards(patient.pk for patient in patients)

    def read_cards(self, patient_ids: Iterable[int]) -> None:
        wanted = set(patient_ids) - set(self.cards)
        if wanted:
            found = current_insurance_cards(wanted)
            self.cards.update({pk: found.get(pk) for pk in wanted})


_run: ContextVar[PullRun | None] = ContextVar("billing_pull_run", default=None)


@contextmanager
def pull_run() -> Iterator[PullRun]:
    """One pull's reads, and on PostgreSQL its commits not waiting for the disk.

    Each encounter stays in its own transaction; what changes is only that a commit returns
    before its WAL is flushed (PostgreSQL's synchronous_commit off, for this session until the
    pull ends). A crash can then lose the last encounters committed (never part of one, and
    never out of order: a later flushed commit flushes them too), and the next pull, which is
    idempotent, builds them again."""
    run = PullRun()
    token = _run.set(run)
    relaxed = connection.vendor == "postgresql"
    if relaxed:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('synchronous_commit'), "
                "set_config('synchronous_commit', 'off', false)"
            )
            before = cursor.fetchone()[0]
    try:
        yield run
    except BaseException:
        _run.reset(token)
        if relaxed:
            # The pull's own error is the one raised. When the setting cannot be put back, the
            # transaction it was changed in is aborted (and its rollback undoes the change) or
            # the connection is gone (and the session with it).
            try:
                _commit_setting(before)
            except DatabaseError:
                logger.warning("billing pull: synchronous_commit not put back after an error")
        raise
    _run.reset(token)
    if relaxed:
        _commit_setting(before)


def _commit_setting(value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [value])


def batches(items: Iterable, size: int = BATCH) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def billing_start() -> date:
    """Work dated before this day is never pulled (settings.BILLING_START_DATE)."""
    return settings.BILLING_START_DATE


def visit_source(visit: Visit) -> str:
    return f"visit:{visit.pk}"


def pull_completed_visits(*, now: datetime | None = None) -> PullResult:
    """Build an encounter for every ended visit from the billing start on that has none.

    Each encounter is built in its own transaction: an error keeps none of that visit's rows,
    and the encounters built before it stay. A visit that fails is logged by its id (never its
    contents) and counted, and the pull goes on with the next one."""
    now = now or timezone.now()
    start = billing_start()
    billed = Encounter.objects.filter(visit=OuterRef("pk"))
    # A day early in UTC: the date of service is the practice's local day, checked below.
    earliest = datetime.combine(start - timedelta(days=1), datetime.min.time(), UTC)
    visits = visit_selectors.ended_visits(ended_by=now).filter(
        ~Exists(billed), ended_at__gte=earliest
    )
    built = failed = 0
    with pull_run() as run:
        for batch in batches(visits.iterator(chunk_size=BATCH)):
            try:
                run.read_visits(batch)
            except Exception as error:  # each visit is then read on its own, and fails alone
                run.looked_at = set()
                logger.error(
                    "billing pull: reading a batch of visits failed (%s)", type(error).__name__
                )
            for visit in batch:
                try:
                    if visit_day(visit) < start:
                        continue
                    if encounter_from_visit(visit=visit):
                        built += 1
                except Exception as error:
                    failed += 1
                    logger.error(
                        "billing pull: visit %s failed (%s)", visit.pk, type(error).__name__
                    )
    return PullResult(built=built, failed=failed)


@dataclass
class Assessment:
    """What the pull found out about a visit, before anything is written. `facts` is None
    when no coding rules cover the date: the encounter is then built without lines."""

    day: date
    provider: Provider | None
    minutes: int
    modality: Modality
    facts: VisitFacts | None
    payer: Payer | None
    state: str
    at_home: bool | None
    problems: list[str] = field(default_factory=list)
    rules_version: str = ""


def encounter_from_visit(*, visit: Visit) -> Encounter | None:
    """The visit's encounter with its suggested lines, or None when another run built it."""
    assessment = assess_visit(visit)
    facts = assessment.facts
    return encounter_insert(
        practice_id=visit.practice_id,
        source=visit_source(visit),
        fields={
            "patient": visit.patient,
            "kind": Encounter.Kind.VISIT,
            "visit": visit,
            "rendering_provider": assessment.provider,
            "date_of_service": assessment.day,
            "minutes": assessment.minutes,
            "modality": assessment.modality.value,
            "patient_state": assessment.state,
            "patient_at_home": assessment.at_home,
            "payer": assessment.payer,
            "rules_version": assessment.rules_version,
        },
        suggestion=suggest(facts) if facts else Suggestion(),
        problems=assessment.problems,
        detail=f"encounter from visit {visit.pk}",
    )


def encounter_insert(
    *,
    practice_id: int,
    source: str,
    fields: dict[str, Any],
    suggestion: Suggestion,
    problems: list[str],
    detail: str,
) -> Encounter | None:
    """Insert an encounter with its lines, or nothing when `source` was already billed.

    The insert goes first, inside the unique (practice, source): on PostgreSQL a concurrent
    run's insert waits for ours and then fails on the row, so only the run that inserted writes
    lines and the audit event. The lines are priced before the transaction, so the encounter is
    inserted whole."""
    lines, line_problems = priced_lines(
        practice_id=practice_id, on=fields["date_of_service"], suggestion=suggestion
    )
    problems = problems + line_problems
    review_notes = list(suggestion.needs_review)
    fields = {
        **fields,
        "problems": problems,
        "review_notes": review_notes,
        "not_billed": [
            {"code": item.code or "", "reason": item.reason} for item in suggestion.not_billed
        ],
        "status": status_for(problems=problems, review_notes=review_notes),
    }
    try:
        with transaction.atomic():
            # First in the transaction: a source billed already fails here, with nothing else
            # written, and the whole transaction is undone (no savepoint to pay for).
            encounter = Encounter.objects.create(practice_id=practice_id, source=source, **fields)
            for line in lines:
                line.encounter = encounter
            ClaimLine.objects.bulk_create(lines)
            audit.record(
                action=Action.CREATE,
                obj=encounter,
                patient=encounter.patient,
                actor_label=PULL_LABEL,
                detail=f"{detail}: {encounter.status}",
            )
    except IntegrityError:
        if Encounter.objects.filter(practice_id=practice_id, source=source).exists():
            return None
        raise
    return encounter


def status_for(*, problems: list[str], review_notes: list[str]) -> str:
    if problems:
        return Encounter.Status.DRAFT
    if review_notes:
        return Encounter.Status.NEEDS_REVIEW
    return Encounter.Status.READY


NO_DIAGNOSIS = gettext_lazy("No diagnosis yet: add at least one ICD-10-CM code.")
NOTHING_TO_BILL = gettext_lazy("Nothing to bill: no line is supported by the documentation.")


def encounter_problems(encounter: Encounter) -> list[str]:
    """Everything that keeps the encounter from being ready, recomputed from its rows as they
    are now (who rendered it, where the patient was, payer, diagnoses, lines and charges) and
    from the practice's set-up. The pull and every review edit call it, so a problem that was
    fixed disappears and one that still holds stays listed."""
    problems: list[str] = []
    provider = encounter.rendering_provider
    visit = encounter.kind == Encounter.Kind.VISIT
    if provider is None:
        problems.append(
            _("No clinician is recorded for the visit.")
            if visit
            else _("No clinician with an NPI is on the patient's monitoring.")
        )
    else:
        problems += npi_problems(provider)
    problems += billing_profile_problems(encounter.practice_id)
    payer = encounter.payer
    if payer is None:
        problems.append(payer_of(encounter.patient)[1] or _("No payer is set for the encounter."))
    profile, profile_problem = profile_for(payer, encounter.date_of_service)
    if profile_problem:
        problems.append(profile_problem)
    if visit and encounter.modality:
        modality = Modality(encounter.modality)
        state = encounter.patient_state
        problems += [
            problem
            for problem in (
                location_for(state=state, at_home=encounter.patient_at_home, modality=modality)[1],
                *licensure_problems(provider, state=state, modality=modality),
            )
            if problem
        ]
    diagnoses = list(encounter.diagnoses.all())
    problems += diagnosis_problems(diagnoses)
    problems += line_problems(encounter, positions={d.position for d in diagnoses})
    return problems


def diagnosis_problems(diagnoses: list[EncounterDiagnosis]) -> list[str]:
    problems: list[str] = []
    if not diagnoses:
        problems.append(str(NO_DIAGNOSIS))
    for diagnosis in diagnoses:
        try:
            for_claim(diagnosis.code)
        except DiagnosisRefused as refused:
            problems.append(
                _("Diagnosis %(position)d: %(reason)s")
                % {"position": diagnosis.position, "reason": refused}
            )
    return problems


def line_problems(encounter: Encounter, *, positions: set[int]) -> list[str]:
    problems: list[str] = []
    lines = list(encounter.lines.all())
    if not lines:
        problems.append(str(NOTHING_TO_BILL))
    for line in lines:
        fee = fee_for(
            practice_id=encounter.practice_id, code=line.code, on=encounter.date_of_service
        )
        if fee is None:
            problems.append(_("No fee for %(code)s in the fee schedule.") % {"code": line.code})
        elif fee == 0 or not line.charge:
            problems.append(_("The charge for %(code)s is zero.") % {"code": line.code})
        missing = [pointer for pointer in line.diagnosis_pointers if pointer not in positions]
        if positions and (missing or not line.diagnosis_pointers):
            problems.append(
                _("Line %(position)d (%(code)s) must point at diagnoses that exist.")
                % {"position": line.position, "code": line.code}
            )
    return problems


def assess_visit(visit: Visit) -> Assessment:
    day = visit_day(visit)
    problems: list[str] = []
    run = _run.get()
    batched = run if run is not None and visit.pk in run.looked_at else None
    provider = (
        batched.rendering[visit.pk]
        if batched is not None
        else visit_selectors.rendering_clinician(visit)
    )
    if provider is None:
        problems.append(_("No clinician is recorded for the visit."))
    else:
        problems += npi_problems(provider)
    problems += billing_profile_problems(visit.practice_id)
    payer, payer_problem = payer_of(visit.patient)
    if payer_problem:
        problems.append(payer_problem)
    profile, profile_problem = profile_for(payer, day)
    if profile_problem:
        problems.append(profile_problem)
    modality = visit_modality(visit)
    state, at_home = where_patient_was(visit)
    location, location_problem = location_for(state=state, at_home=at_home, modality=modality)
    if location_problem:
        problems.append(location_problem)
    problems += licensure_problems(provider, state=state, modality=modality)
    problems.append(str(NO_DIAGNOSIS))
    if batched is None:
        minutes = visit_selectors.clinician_minutes(visit=visit, provider=provider)
    elif (present := provider or visit.provider) is None or visit.started_at is None:
        minutes = 0
    else:
        minutes = visit_selectors.minutes_present(
            visit, batched.presences.get(visit.pk, {}).get(present.user_id, ())
        )
    facts = None
    if profile is not None:
        if batched is not None:
            established = visit.pk in batched.seen
            note_signed = visit.pk in batched.signed
        else:
            established = visit_selectors.seen_before(visit=visit, since=new_patient_since(visit))
            note_signed = visit_selectors.note_is_signed(visit)
        facts = VisitFacts(
            date_of_service=day,
            payer=profile,
            modality=modality,
            location=location,
            visit_minutes=minutes,
            patient_status=PatientStatus.ESTABLISHED if established else PatientStatus.NEW,
            note_signed=note_signed,
        )
    return Assessment(
        day=day,
        provider=provider,
        minutes=facts.minutes if facts else minutes,
        modality=modality,
        facts=facts,
        payer=payer,
        state=state,
        at_home=at_home,
        problems=problems,
        rules_version=rules_version(profile, day),
    )


def new_patient_since(visit: Visit) -> datetime:
    """The start of the look-back in which an earlier visit makes the patient established."""
    return (visit.started_at or visit.created_at) - NEW_PATIENT_LOOKBACK


def npi_problems(provider: Provider) -> list[str]:
    if provider.npi:
        return []
    return [_("%(name)s has no NPI on file.") % {"name": provider.display_name}]


def licensure_problems(provider: Provider | None, *, state: str, modality: Modality) -> list[str]:
    """A remote visit is billed by a clinician licensed where the patient was (an unknown state
    is its own problem)."""
    if provider is None or modality == Modality.IN_PERSON or not state:
        return []
    if provider.is_licensed_in(state):
        return []
    return [
        _("%(name)s is not licensed in %(state)s, where the patient was.")
        % {"name": provider.display_name, "state": state_name(state)}
    ]


def visit_day(visit: Visit) -> date:
    """The date of service: the day the visit took place, in the practice's time zone."""
    moment = visit.started_at or visit.ended_at or visit.created_at
    return timezone.localtime(moment, visit.practice.zone).date()


def visit_modality(visit: Visit) -> Modality:
    booked = visit.appointment.modality if visit.appointment else BookedModality.VIDEO
    if booked == BookedModality.IN_PERSON:
        return Modality.IN_PERSON
    if booked == BookedModality.PHONE or visit.audio_only:
        return Modality.AUDIO_ONLY
    return Modality.VIDEO


def where_patient_was(visit: Visit) -> tuple[str, bool | None]:
    """The patient's state and whether they were at home (None: not known): their answer in
    the waiting room, else the state they gave when booking."""
    location = visit_selectors.location_of(visit)
    return location.state, location.at_home


def location_for(
    *, state: str, at_home: bool | None, modality: Modality
) -> tuple[PatientLocation | None, str]:
    """Where the patient was, as coding needs it, or why it is not known: home or elsewhere
    decides the place of service."""
    if modality == Modality.IN_PERSON:
        return None, ""
    if not state:
        return None, _("The patient's state during the visit is not recorded.")
    if at_home is None:
        return None, _(
            "The patient has not said whether they were at home; it decides the place of service."
        )
    return PatientLocation(state=state, at_home=at_home), ""


def billing_profile_problems(practice_id: int) -> list[str]:
    run = _run.get()
    if run is None:
        has_profile = BillingProfile.objects.filter(practice_id=practice_id).exists()
    elif practice_id in run.has_profile:
        has_profile = run.has_profile[practice_id]
    else:
        has_profile = run.has_profile[practice_id] = BillingProfile.objects.filter(
            practice_id=practice_id
        ).exists()
    if has_profile:
        return []
    return [_("The practice's billing profile (group NPI, tax id) is not set up.")]


def payer_of(patient: Patient) -> tuple[Payer | None, str]:
    run = _run.get()
    if run is None:
        card = current_insurance_card(patient)
    else:
        run.read_cards([patient.pk])
        card = run.cards[patient.pk]
    if card is None:
        return None, _("No insurance card on file for the patient.")
    key = (patient.practice_id, card.payer)
    if run is not None and key in run.payers:
        payer = run.payers[key]
    else:
        payer = Payer.objects.filter(
            practice_id=patient.practice_id, name__iexact=card.payer
        ).first()
        if run is not None:
            run.payers[key] = payer
    if payer is None:
        return None, _("The insurer %(name)s is not set up as a payer.") % {"name": card.payer}
    return payer, ""


def profile_for(payer: Payer | None, day: date) -> tuple[PayerProfile | None, str]:
    """The payer's coding rules; Medicare's when the payer is not known or its profile is
    missing, so the suggestion still shows (the encounter stays in draft). None, with the
    problem, when no rules cover the day at all."""
    problem = ""
    if payer is not None:
        try:
            return payer_profile(
                payer.profile_kind,
                on=day,
                state=payer.profile_state or None,
                variant=payer.profile_variant or None,
            ), ""
        except NoRulesError:
            problem = _("No coding rules for the payer %(name)s on %(day)s.") % {
                "name": payer.name,
                "day": day.isoformat(),
            }
    try:
        return payer_profile(PayerKind.MEDICARE, on=day), problem
    except NoRulesError:
        return None, problem or _("No coding rules for %(day)s.") % {"day": day.isoformat()}


def rules_version(profile: PayerProfile | None, day: date) -> str:
    try:
        codes = visit_codes_on(day).effective_from.isoformat()
    except NoRulesError:
        codes = "none"
    if profile is None:
        return f"visit codes {codes}; no payer profile"
    state = f"-{profile.state}" if profile.state else ""
    return f"visit codes {codes}; {profile.key}{state} {profile.effective_from.isoformat()}"


def fee_for(*, practice_id: int, code: str, on: date) -> Decimal | None:
    run = _run.get()
    if run is not None:
        if practice_id not in run.fees:
            schedule: dict[str, list[tuple[date, Decimal]]] = {}
            rows = FeeScheduleEntry.objects.filter(practice_id=practice_id).order_by(
                "code", "-effective_from"
            )
            for code_, effective_from, charge in rows.values_list(
                "code", "effective_from", "charge"
            ):
                schedule.setdefault(code_, []).append((effective_from, charge))
            run.fees[practice_id] = schedule
        return next(
            (charge for since, charge in run.fees[practice_id].get(code, ()) if since <= on), None
        )
    entry = (
        FeeScheduleEntry.objects.filter(practice_id=practice_id, code=code, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    return entry.charge if entry else None


def write_lines(*, encounter: Encounter, suggestion: Suggestion) -> list[str]:
    """Insert the suggested lines with their charges; returns the problems found in them."""
    lines, problems = priced_lines(
        practice_id=encounter.practice_id, on=encounter.date_of_service, suggestion=suggestion
    )
    for line in lines:
        line.encounter = encounter
    ClaimLine.objects.bulk_create(lines)
    return problems


def priced_lines(
    *, practice_id: int, on: date, suggestion: Suggestion
) -> tuple[list[ClaimLine], list[str]]:
    """The suggested lines with their charges from the fee schedule in force `on`, not yet
    tied to an encounter, and the problems found in them."""
    problems: list[str] = []
    if not suggestion.lines:
        problems.append(str(NOTHING_TO_BILL))
    lines = []
    for position, line in enumerate(suggestion.lines, start=1):
        fee = fee_for(practice_id=practice_id, code=line.code, on=on)
        if fee is None:
            problems.append(_("No fee for %(code)s in the fee schedule.") % {"code": line.code})
        elif fee == 0:
            problems.append(_("The charge for %(code)s is zero.") % {"code": line.code})
        lines.append(
            ClaimLine(
                position=position,
                code=line.code,
                modifiers=list(line.modifiers),
                place_of_service=line.place_of_service,
                units=line.units,
                charge=(fee or Decimal(0)) * line.units,
                diagnosis_pointers=list(line.diagnosis_pointers),
                reason=line.reason,
                suggested=True,
            )
        )
    return lines, problems


def pull_monitoring(*, now: datetime | None = None) -> PullResult:
    """Build the encounters of remote monitoring that are due, from the billing start on.

    Device supply and setup: one encounter per patient per 30-day period, once the period has
    ended or already reached full device supply. Treatment management: one per patient per
    calendar month, once the month has ended. A period or month with nothing to bill builds
    nothing and is looked at again on the next run. A patient whose pull fails is logged by
    their id (never their data) and counted, and the pull goes on with the next patient."""
    now = now or timezone.now()
    built = failed = 0
    with pull_run() as run:
        for batch in batches(rpm_selectors.monitoring_episodes()):
            try:
                run.read_patients([episode.patient for episode in batch])
            except Exception as error:  # each patient is then read on their own
                run.billed = {}
                logger.error(
                    "billing pull: reading a batch of patients failed (%s)", type(error).__name__
                )
            for episode in batch:
                try:
                    built += episode_encounters(episode=episode, now=now)
                except Exception as error:
                    failed += 1
                    logger.error(
                        "billing pull: monitoring of patient %s failed (%s)",
                        episode.patient.pk,
                        type(error).__name__,
                    )
    return PullResult(built=built, failed=failed)


def episode_encounters(*, episode: MonitoringEpisode, now: datetime) -> int:
    start = billing_start()
    today = timezone.localtime(now, episode.patient.practice.zone).date()
    run = _run.get()
    if run is not None and episode.patient.pk in run.billed:
        billed = run.billed[episode.patient.pk]
    else:
        billed = set(
            Encounter.objects.filter(
                practice_id=episode.patient.practice_id, patient=episode.patient
            ).values_list("source", flat=True)
        )
    built = 0
    for period in monitoring.periods_until(start=episode.start, until=today):
        # A period is dated, and takes its rules, by its last day.
        if period.end < start:
            continue
        source = period_source(episode.patient, period)
        if source not in billed and period_encounter(
            episode=episode, period=period, today=today, source=source
        ):
            built += 1
    for first in months_ended(start=episode.start, today=today):
        if first < start:
            continue
        source = month_source(episode.patient, first)
        if source not in billed and month_encounter(episode=episode, first=first, source=source):
            built += 1
    return built


def period_source(patient: Patient, period: monitoring.MonitoringPeriod) -> str:
    return f"rpm:{patient.pk}:{period.start.isoformat()}"


def month_source(patient: Patient, first: date) -> str:
    return f"rpm-month:{patient.pk}:{first:%Y-%m}"


def months_ended(*, start: date, today: date) -> list[date]:
    """The first day of every calendar month of monitoring that has ended by today."""
    months = []
    first = start.replace(day=1)
    while monitoring.month_of(first.year, first.month)[1] < today:
        months.append(first)
        first = monitoring.month_of(first.year, first.month)[1] + timedelta(days=1)
    return months


def period_encounter(
    *, episode: MonitoringEpisode, period: monitoring.MonitoringPeriod, today: date, source: str
) -> Encounter | None:
    patient = episode.patient
    readings = rpm_selectors.reading_dates_by_device(
        patient=patient, first=period.start, last=period.end
    )
    payer, profile, problems = monitoring_payer(patient, period.end)
    suggestion = monitoring.period_lines(
        period=period, readings=readings, as_of=today, place_of_service=place_of(profile)
    )
    if not suggestion.lines:
        return None
    if profile is None:
        suggestion = Suggestion(not_billed=suggestion.not_billed)
    if device_supply_billed(patient, period):
        # Ids only: dates of service tied to a patient are themselves protected.
        logger.warning(
            "billing pull: patient %s period %s overlaps device supply already billed",
            patient.pk,
            period.number,
        )
        return None
    provider = ordering_provider(episode.clinician_ids)
    return encounter_insert(
        practice_id=patient.practice_id,
        source=source,
        fields={
            "patient": patient,
            "kind": Encounter.Kind.MONITORING,
            "rendering_provider": provider,
            "date_of_service": min(period.end, today),
            "period_start": period.start,
            "period_end": period.end,
            "payer": payer,
            "rules_version": monitoring_rules_version(period.end),
        },
        suggestion=suggestion,
        problems=monitoring_problems(patient, provider) + problems,
        detail=f"monitoring encounter for {period.start}-{period.end}",
    )


def device_supply_billed(patient: Patient, period: monitoring.MonitoringPeriod) -> bool:
    """Whether a device-supply encounter of the patient covers any day of the period: a period
    counted from another start (an edited or moved enrolment) must not bill those days again."""
    return Encounter.objects.filter(
        patient=patient, period_start__lte=period.end, period_end__gte=period.start
    ).exists()


def month_encounter(*, episode: MonitoringEpisode, first: date, source: str) -> Encounter | None:
    patient = episode.patient
    last = monitoring.month_of(first.year, first.month)[1]
    # Only what the entries need: the notes stay encrypted, unread.
    logs = rpm_selectors.time_logs(patient=patient, first=first, last=last).only(
        "day", "minutes", "kind", "clinician_id", "clinician__full_name"
    )
    entries = [
        monitoring.TimeEntry(
            day=log.day,
            minutes=log.minutes,
            interactive=log.kind == TimeLog.Kind.INTERACTIVE,
            practitioner=log.clinician_id,
            practitioner_name=log.clinician.full_name,
        )
        for log in logs
    ]
    payer, profile, problems = monitoring_payer(patient, last)
    suggestion = monitoring.treatment_management(
        year=first.year,
        month=first.month,
        entries=entries,
        place_of_service=place_of(profile),
    )
    if not suggestion.lines:
        return None
    if profile is None:
        suggestion = Suggestion(not_billed=suggestion.not_billed)
    chosen = monitoring.billing_practitioner(entries)
    provider = ordering_provider((chosen[0],) if chosen else ())
    return encounter_insert(
        practice_id=patient.practice_id,
        source=source,
        fields={
            "patient": patient,
            "kind": Encounter.Kind.MONITORING,
            "rendering_provider": provider,
            "date_of_service": last,
            "minutes": chosen[2] if chosen else 0,
            "payer": payer,
            "rules_version": monitoring_rules_version(first),
        },
        suggestion=suggestion,
        problems=monitoring_problems(patient, provider) + problems,
        detail=f"treatment management for {first:%Y-%m}",
    )


def ordering_provider(user_ids: Sequence[int]) -> Provider | None:
    """The first of these clinicians who is a provider (has a billing identity)."""
    run = _run.get()
    if run is None:
        providers = {p.user_id: p for p in Provider.objects.filter(user_id__in=user_ids)}
        return next((providers[pk] for pk in user_ids if pk in providers), None)
    wanted = [pk for pk in user_ids if pk not in run.providers]
    if wanted:
        found = {p.user_id: p for p in Provider.objects.filter(user_id__in=wanted)}
        run.providers.update({pk: found.get(pk) for pk in wanted})
    return next((run.providers[pk] for pk in user_ids if run.providers[pk] is not None), None)


def place_of(profile: PayerProfile | None) -> str:
    """Monitoring is billed as an office service; without a payer profile the lines are only
    weighed (and dropped), so the office code stands in."""
    return profile.pos_in_person if profile else OFFICE


def monitoring_payer(
    patient: Patient, day: date
) -> tuple[Payer | None, PayerProfile | None, list[str]]:
    payer, problem = payer_of(patient)
    profile, profile_problem = profile_for(payer, day)
    return payer, profile, [reason for reason in (problem, profile_problem) if reason]


def monitoring_problems(patient: Patient, provider: Provider | None) -> list[str]:
    problems = []
    if provider is None:
        problems.append(_("No clinician with an NPI is on the patient's monitoring."))
    else:
        problems += npi_problems(provider)
    problems += billing_profile_problems(patient.practice_id)
    problems.append(str(NO_DIAGNOSIS))
    return problems


def monitoring_rules_version(day: date) -> str:
    try:
        return f"monitoring rules {monitoring_rules_on(day).effective_from.isoformat()}"
    except NoRulesError:
        return "monitoring rules none"
