from dataclasses import asdict

from celery import shared_task

from billing import services


@shared_task
def pull_completed_visits() -> dict[str, int]:
    return asdict(services.pull_completed_visits())


@shared_task
def pull_monitoring() -> dict[str, int]:
    return asdict(services.pull_monitoring())
