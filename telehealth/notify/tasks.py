from celery import shared_task

from telehealth.notify.dispatch import dispatch_due


@shared_task(ignore_result=True)
def dispatch_outbox() -> int:
    """Runs from beat every few seconds and after each commit that queued a due message."""
    return dispatch_due().handled
