"""The Celery app. Beat's schedule lives here, in code."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")

app = Celery("telehealth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "dispatch-outbox": {
        "task": "telehealth.notify.tasks.dispatch_outbox",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "deliver-fhir-notifications": {
        "task": "telehealth.fhir_subscriptions.tasks.deliver_notifications",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "fetch-texted-pictures": {
        "task": "messaging.tasks.fetch_due_sms_media",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    "request-intake-forms": {
        "task": "intake.tasks.request_forms",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "rpm-escalate": {
        "task": "rpm.tasks.escalate_overdue",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "rpm-missed-readings": {
        "task": "rpm.tasks.flag_missed_readings",
        "schedule": crontab(minute=5),
    },
    "feedback-create-surveys": {
        "task": "feedback.tasks.create_due_surveys",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 5 * 60},
    },
    "billing-pull-visits": {
        "task": "billing.tasks.pull_completed_visits",
        "schedule": crontab(minute="*/15"),
        "options": {"expires": 15 * 60},
    },
    "billing-pull-evisits": {
        "task": "billing.tasks.pull_completed_evisits",
        "schedule": crontab(minute=50),
    },
    "billing-pull-econsults": {
        "task": "billing.tasks.pull_answered_econsults",
        "schedule": crontab(minute=55),
    },
    "billing-pull-monitoring": {
        "task": "billing.tasks.pull_monitoring",
        "schedule": crontab(minute=40),
    },
    "fhir-delete-expired-exports": {
        "task": "telehealth.fhir.tasks.delete_expired_bulk_exports",
        "schedule": crontab(minute="*/10"),
    },
    "audit-checkpoint": {
        "task": "telehealth.audit.tasks.checkpoint_audit_chains",
        "schedule": crontab(minute=23),
    },
    "clear-expired-sessions": {
        "task": "telehealth.accounts.tasks.clear_expired_sessions",
        "schedule": crontab(minute=17),
    },
}
