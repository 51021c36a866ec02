from celery import shared_task

from intake import services


@shared_task
def request_forms() -> int:
    """Ask newly booked patients for their forms (see services.request_forms)."""
    return services.request_forms()
