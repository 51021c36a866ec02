"""Writes of billing for e-visits: an encounter for every completed online case, once its
7-day period has closed (its minutes cannot change the code any more), pulled on a schedule.

visits never calls billing: the pull reads completed cases and their figures through
visits.evisit_selectors, codes them with billing.online, and writes through
services.encounter_insert, which is idempotent on the source "evisit:<id>"."""

import logging
from datetime import UTC, date, datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy

from billing import online
from billing.models import Encounter, Payer
from billing.rules import NoRulesError, online_codes_on
from billing.rules.online import ONLINE_CODE_SETS
from billing.rules.records import PatientStatus
from billing.services import (
    NEW_PATIENT_LOOKBACK,
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
from telehealth.accounts.models import Provider
from visits import evisit_selectors
from visits.models import EVisit

logger = logging.getLogger(__name__)
NO_CLINICIAN = gettext_lazy("No clinician with an NPI took the e-visit.")


def evisit_source(evisit: EVisit) -> str:
    return f"evisit:{evisit.pk}"


def _look_around() -> int:
    """Days of live visits to read around a case: the look-back and the period, at their
    longest in any rule set."""
    return max(max(s.period_days, s.related_days_before) for s in ONLINE_CODE_SETS)


def facts_of(evisit: EVisit) -> tuple[online.OnlineFacts | None, list[str], Payer | None]:
    """The case's coding facts (None when no payer rules cover it), the problems found on the
    way, and the payer (or None)."""
    record = evisit_selectors.case_record(
        evisit, seen_since=NEW_PATIENT_LOOKBACK, around=_look_around()
    )
    day = record.first_review or timezone.localdate(timezone=evisit.practice.zone)
    payer, payer_problem = payer_of(evisit.patient)
    profile, profile_problem = profile_for(payer, day)
    problems = [problem for problem in (payer_problem, profile_problem) if problem]
    if profile is None:
        return None, problems, payer
    first = record.first_review
    facts = online.OnlineFacts(
        first_review=first,
        entries=record.entries,
        payer=profile,
        patient_status=PatientStatus.ESTABLISHED if record.seen_before else PatientStatus.NEW,
        photos=record.photos,
        escalated=record.escalated,
        visits_before=tuple(d for d in record.visit_days if first and d < first),
        visits_within=tuple(d for d in record.visit_days if first and d >= first),
    )
    return facts, problems, payer


def assess_evisit(evisit: EVisit) -> online.OnlineAssessment | None:
    """The case's codes as they stand now, for the clinician's case page (nothing written)."""
    facts, _problems, _payer = facts_of(evisit)
    return online.assess(facts) if facts else None


def period_closed(evisit: EVisit, *, today: date) -> bool:
    if evisit.first_action_at is None:
        return False
    first = timezone.localtime(evisit.first_action_at, evisit.practice.zone).date()
    try:
        period = online.period_of(online_codes_on(first), first)
    except NoRulesError:
        return True  # nothing will ever cover it: built now, with the reason
    return period[1] < today


def pull_completed_evisits(*, now: datetime | None = None) -> PullResult:
    """Build an encounter for every completed e-visit from the billing start on whose period
    has closed and that has none. Each in its own transaction; a case that fails is logged by
    its id and counted, and the pull goes on."""
    now = now or timezone.now()
    start = billing_start()
    billed = Encounter.objects.filter(evisit=OuterRef("pk"))
    longest = max(code_set.period_days for code_set in ONLINE_CODE_SETS)
    cases = evisit_selectors.completed_evisits(reviewed_by=now - timedelta(days=longest - 1))
    # A day early in UTC: the date of service is the practice's local day, checked below.
    earliest = datetime.combine(start - timedelta(days=1), datetime.min.time(), UTC)
    cases = cases.filter(~Exists(billed), first_action_at__gte=earliest)
    built = failed = 0
    with pull_run():
        for batch in batches(cases.iterator(chunk_size=200)):
            for evisit in batch:
                try:
                    today = timezone.localtime(now, evisit.practice.zone).date()
                    if not period_closed(evisit, today=today):
                        continue
                    if encounter_from_evisit(evisit=evisit, start=start):
                        built += 1
                except Exception as error:
                    failed += 1
                    logger.error(
                        "billing pull: e-visit %s failed (%s)", evisit.pk, type(error).__name__
                    )
    return PullResult(built=built, failed=failed)


def encounter_from_evisit(*, evisit: EVisit, start: date | None = None) -> Encounter | None:
    """The case's encounter with its suggested line, or None when another run built it (or
    the case is dated before the billing start)."""
    facts, problems, payer = facts_of(evisit)
    assessment = online.assess(facts) if facts else None
    day = (assessment.date_of_service if assessment else None) or timezone.localtime(
        evisit.first_action_at or evisit.completed_at or evisit.created_at, evisit.practice.zone
    ).date()
    if start is not None and day < start:
        return None
    provider: Provider | None = (
        ordering_provider([evisit.assigned_to_id]) if evisit.assigned_to_id else None
    )
    if provider is None:
        problems.append(str(NO_CLINICIAN))
    else:
        problems += npi_problems(provider)
    problems += billing_profile_problems(evisit.practice_id)
    problems.append(str(NO_DIAGNOSIS))
    return encounter_insert(
        practice_id=evisit.practice_id,
        source=evisit_source(evisit),
        fields={
            "patient": evisit.patient,
            "kind": Encounter.Kind.EVISIT,
            "evisit": evisit,
            "rendering_provider": provider,
            "date_of_service": day,
            "minutes": assessment.minutes if assessment else 0,
            "modality": "",
            "payer": payer,
            "rules_version": assessment.rules_version if assessment else "",
        },
        suggestion=assessment.suggestion if assessment else Suggestion(),
        problems=problems,
        detail=f"encounter from e-visit {evisit.pk}",
    )
