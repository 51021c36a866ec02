from celery import shared_task

from telehealth.audit.checkpoints import checkpoint_chains


@shared_task
def checkpoint_audit_chains() -> int:
    return len(checkpoint_chains(taken_by="beat"))
