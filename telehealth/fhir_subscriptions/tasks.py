from celery import shared_task

from telehealth.fhir_subscriptions.dispatch import deliver_due


@shared_task(ignore_result=True)
def deliver_notifications() -> int:
    """Runs from beat every few seconds and after each commit that queued a notification."""
    return deliver_due().handled
