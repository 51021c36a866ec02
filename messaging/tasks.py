from celery import shared_task

from messaging import sms_media


@shared_task(ignore_result=True)
def fetch_sms_media(fetch_id: int) -> None:
    """Queued after the commit that recorded a texted picture, and by `fetch_due_sms_media`."""
    sms_media.media_fetch(fetch_id=fetch_id)


@shared_task(ignore_result=True)
def fetch_due_sms_media() -> int:
    """Runs from beat: pictures waiting for their next try after a failure that may pass."""
    due = sms_media.due_fetch_ids()
    for fetch_id in due:
        sms_media.media_fetch(fetch_id=fetch_id)
    return len(due)
