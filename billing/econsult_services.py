"""Writes of billing for e-consults: for every answered case, once the days in which a live
visit with the specialist would still change its codes have passed, an encounter for the
specialist and, when the requester's minutes reach the referral code, one for the requester,
pulled on a schedule.

visits never calls billing: the pull reads answered cases and their figures through
visits.econsult_selectors, codes them with billing.consults, and writes through
services.encounter_insert, which is idempotent on the source "econsult:<id>:<side>"."""

import logging
from datetime import UTC, date, datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy

from billing import consults
from billing.consults import Side
from billing.models import Encounter, Payer
from billing.rules import NoRulesError
from billing.rules.interprofessional import INTERPROFESSIONAL_RULE_SETS, ConsultMinutes
from billing.services import (
    NO_DIAGNOSIS,
    PullResult,
    batches,
    billing_profile_problems,
    billing_start,
    encounter_insert,
    npi_problems,
    ordering_provider,
    payer_of,
    profile_for,
    pull_run,
)
from billing.suggestions import Suggestion
from telehealth.accounts.models import Patient, Provider
from visits import econsult_selectors
from visits.models import EConsult

logger = logging.getLogger(__name__)
NO_PROVIDER = gettext_lazy("The clinician has no billing identity (provider) with an NPI.")


def econsult_source(econsult: EConsult, side: Side) -> str:
    return f"econsult:{econsult.pk}:{side}"


def _look_around() -> int:
    """Days around a case in which a live visit with the specialist counts, at their longest
    in any rule set."""
    return max(rules.no_visit_within_days for rules in INTERPROFESSIONAL_RULE_SETS)


def _once_per() -> int:
    return max(
        max(rules.consultant_once_per_days, rules.requesting_once_per_days)
        for rules in INTERPROFESSIONAL_RULE_SETS
    )


def billed_days(
    econsult: EConsult, side: Side, codes: tuple[str, ...], around: date
) -> tuple[date, ...]:
    """Dates of service of the patient's other e-consult encounters of this side that carry
    one of the codes, near `around` (a read of billing's own rows)."""
    span = timedelta(days=_once_per())
    return tuple(
        Encounter.objects.filter(
            practice_id=econsult.practice_id,
            patient_id=econsult.patient_id,
            kind=Encounter.Kind.ECONSULT,
            source__endswith=f":{side}",
            lines__code__in=codes,
            date_of_service__gte=around - span,
            date_of_service__lte=around + span,
        )
        .exclude(econsult=econsult)
        .values_list("date_of_service", flat=True)
        .distinct()
    )


def facts_of(
    econsult: EConsult, side: Side
) -> tuple[consults.ConsultFacts | None, list[str], Payer | None]:
    """The case's coding facts for one side (None when no payer rules cover it), the problems
    found on the way, and the payer (or None)."""
    record = econsult_selectors.consult_record(econsult, around=_look_around())
    payer, payer_problem = payer_of(econsult.patient)
    profile, profile_problem = profile_for(payer, record.answered_on or record.sent_on)
    problems = [problem for problem in (payer_problem, profile_problem) if problem]
    if profile is None:
        return None, problems, payer
    work_days = record.specialist_days if side == Side.SPECIALIST else record.requester_days
    around = record.answered_on or record.sent_on
    try:
        codes = consults.all_codes(consults.rules_for(record.sent_on), side)
    except NoRulesError:
        codes = ()
    facts = consults.ConsultFacts(
        sent_on=record.sent_on,
        answered_on=record.answered_on,
        minutes=ConsultMinutes(**vars(record.minutes)),
        work_days=work_days,
        specialist_visit_days=record.specialist_visit_days,
        billed_days=billed_days(econsult, side, codes, around) if codes else (),
        payer=profile,
    )
    return facts, problems, payer


def assess_econsult(econsult: EConsult, side: Side) -> consults.ConsultAssessment | None:
    """One side's codes as they stand now, for the case page (nothing written)."""
    facts, _problems, _payer = facts_of(econsult, side)
    return consults.assess(facts, side) if facts else None


def window_closed(econsult: EConsult, *, today: date) -> bool:
    if econsult.answered_at is None:
        return False
    zone = econsult.practice.zone
    sent = timezone.localtime(econsult.sent_at, zone).date()
    answered = timezone.localtime(econsult.answered_at, zone).date()
    try:
        rules = consults.rules_for(sent)
    except NoRulesError:
        return True  # nothing will ever cover it: built now, with the reason
    return consults.window_end(rules, answered) < today


def pull_answered_econsults(*, now: datetime | None = None) -> PullResult:
    """Build the encounters of every answered e-consult from the billing start on whose visit
    window has closed and that has no specialist encounter yet. Each case in its own
    transaction (both sides or neither); a case that fails is logged by its id and counted,
    and the pull goes on."""
    now = now or timezone.now()
    start = billing_start()
    billed = Encounter.objects.filter(
        econsult=OuterRef("pk"), source__endswith=f":{Side.SPECIALIST}"
    )
    cases = econsult_selectors.answered_econsults(answered_by=now - timedelta(days=_look_around()))
    # A day early in UTC: the date of service is the practice's local day, checked below.
    earliest = datetime.combine(start - timedelta(days=1), datetime.min.time(), UTC)
    cases = cases.filter(~Exists(billed), answered_at__gte=earliest)
    built = failed = 0
    with pull_run():
        for batch in batches(cases.iterator(chunk_size=200)):
            for econsult in batch:
                try:
                    today = timezone.localtime(now, econsult.practice.zone).date()
                    if not window_closed(econsult, today=today):
                        continue
                    built += len(encounters_from_econsult(econsult=econsult, start=start))
                except Exception as error:
                    failed += 1
                    logger.error(
                        "billing pull: e-consult %s failed (%s)", econsult.pk, type(error).__name__
                    )
    return PullResult(built=built, failed=failed)


def encounters_from_econsult(*, econsult: EConsult, start: date | None = None) -> list[Encounter]:
    """The case's encounters built now: the specialist's always (its lines, or the reason
    there are none), the requester's when their minutes reach the referral code. Both in one
    transaction; an encounter another run built already is not built again (nor returned)."""
    built: list[Encounter] = []
    with transaction.atomic():
        # The once-per-period limits read the patient's other e-consult encounters: two pulls
        # building two of one patient's cases at once must take turns, or both would bill.
        Patient.objects.select_for_update().filter(pk=econsult.patient_id).first()
        for side in (Side.SPECIALIST, Side.REQUESTER):
            encounter = _encounter_of_side(econsult, side, start=start)
            if encounter is not None:
                built.append(encounter)
    return built


def _encounter_of_side(econsult: EConsult, side: Side, *, start: date | None) -> Encounter | None:
    if side == Side.REQUESTER:
        sent_on = timezone.localtime(econsult.sent_at, econsult.practice.zone).date()
        minutes = econsult_selectors.consult_minutes(econsult).requester
        if not consults.requester_reaches(minutes, sent_on):
            return None
    facts, problems, payer = facts_of(econsult, side)
    assessment = consults.assess(facts, side) if facts else None
    day = (assessment.date_of_service if assessment else None) or timezone.localtime(
        econsult.answered_at or econsult.sent_at, econsult.practice.zone
    ).date()
    if start is not None and day < start:
        return None
    clinician = econsult.specialist_id if side == Side.SPECIALIST else econsult.requester_id
    provider: Provider | None = ordering_provider([clinician])
    if provider is None:
        problems.append(str(NO_PROVIDER))
    else:
        problems += npi_problems(provider)
    problems += billing_profile_problems(econsult.practice_id)
    problems.append(str(NO_DIAGNOSIS))
    return encounter_insert(
        practice_id=econsult.practice_id,
        source=econsult_source(econsult, side),
        fields={
            "patient": econsult.patient,
            "kind": Encounter.Kind.ECONSULT,
            "econsult": econsult,
            "rendering_provider": provider,
            "date_of_service": day,
            "minutes": assessment.minutes if assessment else 0,
            "modality": "",
            "payer": payer,
            "rules_version": assessment.rules_version if assessment else "",
        },
        suggestion=assessment.suggestion if assessment else Suggestion(),
        problems=problems,
        detail=f"encounter from e-consult {econsult.pk} ({side})",
    )
