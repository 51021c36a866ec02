"""Invitations submitted at once, each on its own database connection: one account per
patient, and one account per email, whoever wins."""

import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from django.db import connection, transaction

from telehealth.accounts import services
from telehealth.accounts.models import Patient, User
from tests.concurrency import at_once
from tests.conftest import make_patient

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "lantern orchard velvet 42"


def race(attempts: list[Callable[[], object]]) -> list[str]:
    def outcome(attempt: Callable[[], object]) -> str:
        try:
            attempt()
        except services.AccountError:
            return "refused"
        return "created"

    return sorted(str(o) for o in at_once([partial(outcome, a) for a in attempts]))


def test_one_invitation_submitted_six_times_at_once_makes_one_account(require_postgres, world):
    patient = make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)

    def submit() -> User:
        return services.patient_account_create(patient=patient, password=PASSWORD)

    assert race([submit] * 6) == ["created"] + ["refused"] * 5
    assert User.objects.with_email("nina@example.com").count() == 1
    assert Patient.objects.get(pk=patient.pk).user is not None


def test_two_patients_sharing_an_email_at_once_make_one_account(require_postgres, world):
    """A parent and a child on one family email: one account signs in with it, the other
    patient is refused whole (no user, no link), not left half-written."""
    parent = make_patient(world.practice, "Pam Parent", "family@example.com", login=False)
    child = make_patient(
        world.practice, "Cal Child", "family@example.com", login=False, phone="+16175550166"
    )

    def submit(patient: Patient) -> Callable[[], User]:
        return lambda: services.patient_account_create(patient=patient, password=PASSWORD)

    assert race([submit(parent), submit(child)]) == ["created", "refused"]
    assert User.objects.with_email("family@example.com").count() == 1
    linked = Patient.objects.filter(pk__in=[parent.pk, child.pk], user__isnull=False)
    assert linked.count() == 1


def test_an_account_taking_the_email_while_the_patient_submits_leaves_nothing_behind(
    require_postgres, world
):
    """The email is still free when the patient's submission checks it, and taken (by a
    transaction not yet committed) when it writes: the unique index refuses the write, and
    the patient is told, with no account and no link written."""
    patient = make_patient(world.practice, "Nina Newcomer", "nina@example.com", login=False)
    written, outcome = threading.Event(), []

    def take_the_email() -> None:
        try:
            with transaction.atomic():
                User.objects.create_user(
                    "nina@example.com", PASSWORD, full_name="Desk", role="front_desk"
                )
                written.set()
                time.sleep(1.0)  # the submission checks (and finds nothing) meanwhile
        finally:
            connection.close()

    def submit() -> None:
        written.wait(5)
        try:
            services.patient_account_create(patient=patient, password=PASSWORD)
            outcome.append("created")
        except services.AccountError as error:
            outcome.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=take_the_email), threading.Thread(target=submit)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcome) == 1
    assert outcome[0].startswith("Another account already signs in with the email")
    assert User.objects.with_email("nina@example.com").get().role == "front_desk"
    assert Patient.objects.get(pk=patient.pk).user_id is None
