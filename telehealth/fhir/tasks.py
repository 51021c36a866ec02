from celery import shared_task

from telehealth.fhir import bulk


@shared_task(ignore_result=True)
def run_bulk_export(export_id: str) -> None:
    """Queued after the commit of a `$export` kick-off."""
    bulk.export_run(export_id=export_id)


@shared_task
def delete_expired_bulk_exports() -> int:
    """Runs from beat: jobs stuck unfinished past bulk.STUCK_AFTER are marked failed (their
    status URL then answers the error), exports past FHIR_BULK_EXPORT_TTL_HOURS lose their
    files and rows."""
    bulk.stuck_exports_fail()
    return bulk.expired_exports_delete()
