from dataclasses import asdict

from celery import shared_task

from billing import econsult_services, evisit_services, services


@shared_task
def pull_completed_visits() -> dict[str, int]:
    return asdict(services.pull_completed_visits())


@shared_task
def pull_monitoring() -> dict[str, int]:
    return asdict(services.pull_monitoring())


@shared_task
def pull_completed_evisits() -> dict[str, int]:
    return asdict(evisit_services.pull_completed_evisits())


@shared_task
def pull_answered_econsults() -> dict[str, int]:
    return asdict(econsult_services.pull_answered_econsults())
