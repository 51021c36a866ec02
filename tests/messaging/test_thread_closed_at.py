"""A thread records when it was closed (the inbox's resolution time), and forgets it when it
is opened again."""

from messaging import services as messaging
from messaging.models import Thread


def test_closing_records_the_time_and_reopening_clears_it(world):
    thread, _ = messaging.thread_start(patient=world.patient, subject="Question", body="Hello")
    assert thread.closed_at is None
    closed = messaging.set_status(thread=thread, by=world.front_desk, status=Thread.Status.CLOSED)
    assert closed.closed_at is not None
    first_close = closed.closed_at
    again = messaging.set_status(thread=thread, by=world.front_desk, status=Thread.Status.CLOSED)
    assert again.closed_at == first_close  # closing a closed thread keeps the first time
    reopened = messaging.set_status(thread=thread, by=world.front_desk, status=Thread.Status.OPEN)
    assert reopened.closed_at is None
    assert Thread.objects.get(pk=thread.pk).closed_at is None


def test_a_patients_message_reopens_a_closed_thread_and_clears_its_close(world):
    thread, _ = messaging.thread_start(patient=world.patient, subject="Question", body="Hello")
    messaging.set_status(thread=thread, by=world.front_desk, status=Thread.Status.CLOSED)
    messaging.message_post(thread=thread, by=world.patient.user, body="One more thing")
    reopened = Thread.objects.get(pk=thread.pk)
    assert reopened.status == Thread.Status.OPEN
    assert reopened.closed_at is None
