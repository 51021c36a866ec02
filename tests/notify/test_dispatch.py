import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from telehealth.accounts.models import Patient
from telehealth.notify import channels, services
from telehealth.notify.dispatch import backoff, claim_due, dispatch_due
from telehealth.notify.models import OutboundMessage

Status = OutboundMessage.Status


@pytest.fixture
def patient(world):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    world.patient.refresh_from_db()
    return world.patient


def queue(patient, n=1, *, channel="sms", send_at=None, prefix="t"):
    return [
        services.message_enqueue(
            channel=channel,
            template="test",
            body=f"Message {i}",
            subject="Subject",
            dedupe_key=f"{prefix}:{i}",
            patient=patient,
            send_at=send_at,
        )
        for i in range(n)
    ]


def test_due_messages_are_sent_once_and_future_ones_wait(patient, empty_sms_outbox):
    queue(patient, 3)
    later = queue(patient, 1, send_at=timezone.now() + timedelta(hours=1), prefix="later")[0]
    report = dispatch_due()
    assert report.sent == 3
    assert [s.body for s in empty_sms_outbox] == ["Message 0", "Message 1", "Message 2"]
    assert OutboundMessage.objects.filter(status=Status.SENT).count() == 3
    later.refresh_from_db()
    assert later.status == Status.QUEUED
    assert dispatch_due().handled == 0  # nothing sent twice


def test_same_dedupe_key_queues_nothing_the_second_time(patient):
    assert queue(patient, 1)[0] is not None
    assert queue(patient, 1)[0] is None
    assert OutboundMessage.objects.count() == 1


def test_email_goes_out_with_html_and_ics(patient, mailoutbox):
    services.message_enqueue(
        channel="email",
        template="test",
        subject="Hello",
        body="Text",
        html_body="<p>Text</p>",
        ics="BEGIN:VCALENDAR\nEND:VCALENDAR",
        dedupe_key="mail:1",
        patient=patient,
    )
    dispatch_due()
    email = mailoutbox[0]
    assert email.to == ["pat@alpha.test"]
    assert email.alternatives[0][1] == "text/html"
    assert email.attachments[0][2] == "text/calendar"


class Flaky:
    def __init__(self, error):
        self.error = error

    def send(self, sms):
        raise self.error


def use_backend(monkeypatch, backend):
    monkeypatch.setattr(channels, "sms_backend", lambda: backend)


def test_transient_errors_retry_with_backoff(patient, monkeypatch):
    message = queue(patient, 1)[0]
    use_backend(monkeypatch, Flaky(channels.TransientSendError("503 from provider")))
    report = dispatch_due()
    assert report.retried == 1
    message.refresh_from_db()
    assert message.status == Status.QUEUED and message.attempts == 1
    assert message.send_at > timezone.now() + timedelta(seconds=25)
    assert "503" in message.last_error
    assert backoff(1) == timedelta(seconds=30) and backoff(20) == timedelta(hours=1)


def test_giving_up_after_the_last_attempt(patient, monkeypatch, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    message = queue(patient, 1)[0]
    use_backend(monkeypatch, Flaky(channels.TransientSendError("timeout")))
    dispatch_due()
    OutboundMessage.objects.filter(pk=message.pk).update(send_at=timezone.now())
    dispatch_due()
    message.refresh_from_db()
    assert message.status == Status.FAILED and "Gave up after 2" in message.last_error


def test_permanent_errors_stop_at_once(patient, monkeypatch):
    message = queue(patient, 1)[0]
    use_backend(monkeypatch, Flaky(channels.PermanentSendError("Twilio 21211: invalid")))
    assert dispatch_due().failed == 1
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.attempts == 1


def test_an_opt_out_after_queueing_suppresses_the_text(patient, empty_sms_outbox):
    message = queue(patient, 1)[0]
    services.sms_opt_out(phone=patient.phone, source="test")
    message.refresh_from_db()
    assert message.status == Status.SUPPRESSED
    # Even a row that slipped past (say, queued in a race) is checked at send time.
    OutboundMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED)
    assert dispatch_due().suppressed == 1
    assert empty_sms_outbox == []


def test_an_expired_lease_is_claimed_again_and_a_live_one_is_not(patient, empty_sms_outbox):
    message = queue(patient, 1)[0]
    claimed = claim_due(batch_size=10, lease_seconds=60)
    assert [m.pk for m in claimed] == [message.pk]
    assert claim_due(batch_size=10, lease_seconds=60) == []  # the lease is live
    OutboundMessage.objects.filter(pk=message.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert dispatch_due().sent == 1  # the "crashed" worker's row goes out
    # The first worker, back from the dead, cannot overwrite the result.
    from telehealth.notify.dispatch import _finish

    _finish(claimed[0], status=Status.FAILED)
    message.refresh_from_db()
    assert message.status == Status.SENT


@pytest.mark.django_db(transaction=True)
def test_two_workers_claim_disjoint_batches(require_postgres, world):
    Patient.objects.filter(pk=world.patient.pk).update(
        sms_consent=True, sms_consent_at=timezone.now()
    )
    # bulk_create: no nudge, so nothing is dispatched before the two workers claim.
    OutboundMessage.objects.bulk_create(
        OutboundMessage(
            patient=world.patient, channel="sms", template="t", body="b", dedupe_key=f"race:{i}"
        )
        for i in range(40)
    )
    barrier = threading.Barrier(2)
    claims: list[list[int]] = []

    def worker():
        from django.db import transaction

        try:
            with transaction.atomic():
                barrier.wait()
                rows = list(
                    OutboundMessage.objects.select_for_update(skip_locked=True)
                    .filter(status=Status.QUEUED)
                    .order_by("id")
                    .values_list("pk", flat=True)[:25]
                )
                claims.append(rows)
                barrier.wait()  # hold the locks until both have claimed
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = claims
    assert not set(first) & set(second)
    assert len(first) + len(second) == 40
