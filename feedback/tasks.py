from celery import shared_task

from feedback import services


@shared_task
def create_due_surveys() -> int:
    return services.surveys_create_due()
