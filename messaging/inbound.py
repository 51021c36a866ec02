"""Texts from patients become messages in their thread (joined to notify's inbound chain in
apps.py, after scheduling's C/N/R replies). A number shared by patients of several
practices stays unrouted: the front desk sorts it out."""

from messaging import services
from telehealth.notify import inbound as notify_inbound


def handle(message: notify_inbound.Inbound) -> str:
    patients = message.patients
    if len({p.practice_id for p in patients}) != 1:
        return ""
    # Several records with one number in a practice (a parent and child): the oldest record.
    patient = sorted(patients, key=lambda p: p.pk)[0]
    services.sms_received(patient=patient, body=message.body, media=message.media)
    return "messaging.thread"
