from celery import shared_task

from rpm import services


@shared_task
def escalate_overdue() -> int:
    return services.escalate_overdue()


@shared_task
def flag_missed_readings() -> int:
    return services.flag_missed_readings()
