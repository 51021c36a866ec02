from celery import shared_task

from billing import services


@shared_task
def pull_completed_visits() -> int:
    return services.pull_completed_visits()


@shared_task
def pull_monitoring() -> int:
    return services.pull_monitoring()
