"""Checkpoints: a chain cut short, or emptied, no longer passes `verify_audit`."""

import json
import logging
from io import StringIO

import pytest
from django.core import signing
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from telehealth.audit import services as audit
from telehealth.audit.checkpoints import _signed_text, checkpoint_chains
from telehealth.audit.models import SYSTEM_CHAIN, Action, AuditCheckpoint, AuditEvent
from telehealth.audit.services import GENESIS_HASH, event_hash, verify_chain
from telehealth.audit.tasks import checkpoint_audit_chains
from telehealth.celery import app
from tests.audit.test_audit_chains import open_tampering


@pytest.fixture(autouse=True)
def one_chain_per_practice(settings):
    """These tests are about each practice's chain as a whole: pinned to one chain per practice
    (the design before shards, and the setting at 1). test_audit_shards.py covers several."""
    settings.AUDIT_CHAINS_PER_PRACTICE = 1


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def views(world, count: int) -> list[AuditEvent]:
    return [
        audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
        for _ in range(count)
    ]


def delete_events(*events: AuditEvent) -> None:
    open_tampering()
    AuditEvent.objects.filter(pk__in=[e.pk for e in events]).delete()


def empty_audit_tables() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE audit_auditsubject, audit_auditevent")
        else:
            cursor.execute("DELETE FROM audit_auditsubject")
            cursor.execute("DELETE FROM audit_auditevent")


def test_a_fresh_install_verifies_and_has_nothing_to_checkpoint(db):
    assert "Audit chain intact: 0 events verified." in verify()
    assert not AuditCheckpoint.objects.exists()


def test_verify_audit_checkpoints_each_chain_head(world):
    events = views(world, 2)
    out = verify()
    checkpoint = AuditCheckpoint.objects.get(chain=world.practice.pk)
    in_chain = AuditEvent.objects.filter(chain=world.practice.pk)
    assert (checkpoint.last_event_id, checkpoint.head_hash, checkpoint.event_count) == (
        events[-1].pk,
        events[-1].hash,
        in_chain.count(),
    )
    assert checkpoint.taken_by == "verify_audit"
    assert f"at event {events[-1].pk}, {in_chain.count()} events, hash {events[-1].hash}" in out
    chains = set(AuditEvent.objects.values_list("chain", flat=True))
    assert set(AuditCheckpoint.objects.values_list("chain", flat=True)) == chains


def test_a_growing_chain_passes_and_only_moved_chains_get_a_new_checkpoint(world):
    views(world, 2)
    verify()
    before = AuditCheckpoint.objects.count()
    later = views(world, 3)
    verify()
    newest = AuditCheckpoint.objects.filter(chain=world.practice.pk).latest("id")
    assert AuditCheckpoint.objects.count() == before + 1  # practice B did not move
    assert (newest.last_event_id, newest.head_hash) == (later[-1].pk, later[-1].hash)
    assert newest.event_count == AuditEvent.objects.filter(chain=world.practice.pk).count()
    assert checkpoint_chains(taken_by="test") == []
    verify()


def test_deleting_the_end_of_a_chain_is_caught(world):
    events = views(world, 3)
    verify()
    delete_events(events[-1])
    assert verify_chain(world.practice.pk) is None  # what remains is a valid chain
    with pytest.raises(CommandError) as failure:
        verify()
    message = str(failure.value)
    assert f"chain of practice {world.practice.pk}: event {events[-1].pk}" in message
    assert "is gone" in message
    assert f"practice {world.outside_practice.pk}" not in message


def test_events_written_after_the_end_was_deleted_do_not_hide_it(world, caplog):
    events = views(world, 3)
    checkpoint_chains(taken_by="test")
    delete_events(*events[1:])
    later = views(world, 3)
    assert later[0].previous_hash == events[0].hash
    assert verify_chain(world.practice.pk) is None
    with caplog.at_level(logging.ERROR, logger="telehealth.audit.checkpoints"):
        assert checkpoint_audit_chains() == 0  # the hourly task blesses nothing
    assert f"event {events[-1].pk}" in caplog.text
    with pytest.raises(CommandError, match=f"event {events[-1].pk}, its newest"):
        verify()
    assert not AuditCheckpoint.objects.filter(last_event_id=later[-1].pk).exists()


def test_emptying_the_audit_tables_is_caught_for_every_chain(world):
    audit.record(action=Action.LOGIN_FAILED, actor_label="unknown email")
    views(world, 1)
    verify()
    empty_audit_tables()
    with pytest.raises(CommandError) as failure:
        verify()
    for chain in (SYSTEM_CHAIN, world.practice.pk, world.outside_practice.pk):
        name = "system chain" if chain == SYSTEM_CHAIN else f"chain of practice {chain}"
        assert f"{name}: event" in str(failure.value)


def test_the_checkpoint_file_catches_emptying_the_checkpoints_too(world, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    events = views(world, 2)
    verify()
    with open(settings.AUDIT_CHECKPOINT_FILE) as file:
        lines = [json.loads(line) for line in file]
    assert {"chain": world.practice.pk, "last_event_id": events[-1].pk} in [
        {"chain": line["chain"], "last_event_id": line["last_event_id"]} for line in lines
    ]
    with connection.cursor() as cursor:
        # The trigger refuses DELETE; TRUNCATE is what the table's owner could still do.
        verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
        cursor.execute(f"{verb} audit_auditcheckpoint")
    empty_audit_tables()
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"event {events[-1].pk}" in str(failure.value)
    assert "(checkpoint file)" in str(failure.value)


def test_the_hourly_task_does_not_sign_off_a_tail_lost_with_the_checkpoint_table(
    world, settings, tmp_path, caplog
):
    """Delete a chain's newest events and empty the checkpoint table, then let one more PHI
    read happen: the task must not record the shortened chain as a fresh head (the file's
    older checkpoint still names the deleted event), and verify_audit still fails."""
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    events = views(world, 5)
    verify()
    with connection.cursor() as cursor:
        verb = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
        cursor.execute(f"{verb} audit_auditcheckpoint")
    delete_events(*events[2:])
    views(world, 1)
    with caplog.at_level(logging.ERROR, logger="telehealth.audit.checkpoints"):
        written = checkpoint_chains(taken_by="beat")
    assert world.practice.pk not in {checkpoint.chain for checkpoint in written}
    assert f"audit chain {world.practice.pk} does not reach its checkpoint" in caplog.text
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"event {events[-1].pk}" in str(failure.value)


def test_a_checkpoint_file_whose_count_goes_down_is_caught(world, settings, tmp_path):
    """Even with a later line already written from the shortened chain: a head further on
    with fewer events than an earlier one means events in between were deleted."""
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    views(world, 3)
    verify()
    with open(settings.AUDIT_CHECKPOINT_FILE) as file:
        lines = [json.loads(line) for line in file]
    line = next(line for line in lines if line["chain"] == world.practice.pk)
    later = {**line, "last_event_id": line["last_event_id"] + 1, "event_count": 1}
    with open(settings.AUDIT_CHECKPOINT_FILE, "a") as file:
        file.write(json.dumps(later) + "\n")
    with pytest.raises(CommandError) as failure:
        verify()
    assert f"chain {world.practice.pk} has 1 events" in str(failure.value)


def test_the_log_carries_the_same_signed_checkpoint_as_the_file(world, settings, tmp_path, caplog):
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    views(world, 1)
    with caplog.at_level(logging.INFO, logger="telehealth.audit.checkpoints"):
        written = checkpoint_chains(taken_by="test")
    logged = [r.getMessage().removeprefix("audit checkpoint ") for r in caplog.records]
    with open(settings.AUDIT_CHECKPOINT_FILE) as file:
        in_file = file.read().splitlines()
    assert logged == in_file and len(in_file) == len(written)
    assert {json.loads(line)["signature"] for line in in_file} == {c.signature for c in written}


def test_a_checkpoint_not_signed_with_the_secret_key_is_refused(world):
    """Inserting rows is all the application's role can do to the checkpoints: one that
    blesses a shortened chain needs the key."""
    events = views(world, 3)
    verify()
    delete_events(events[-1])
    later = views(world, 1)[0]
    forged = AuditCheckpoint(
        chain=world.practice.pk,
        last_event_id=later.pk,
        head_hash=later.hash,
        event_count=AuditEvent.objects.filter(chain=world.practice.pk).count(),
        taken_at=timezone.now(),
        taken_by="verify_audit",
    )
    signer = signing.Signer(key="not this installation's key", salt="telehealth.audit.checkpoint")
    forged.signature = signer.signature(_signed_text(forged))
    forged.save()
    with pytest.raises(CommandError, match="not signed with this installation's secret key"):
        verify()


def test_a_rewritten_chain_that_verifies_disagrees_with_its_checkpoint(world):
    """Rehashing every event after a deleted one gives a chain that verifies; its head's hash
    is no longer the one recorded."""
    events = views(world, 3)
    verify()
    delete_events(events[0])
    previous = (
        AuditEvent.objects.filter(chain=world.practice.pk, pk__lt=events[0].pk)
        .values_list("hash", flat=True)
        .last()
    ) or GENESIS_HASH
    for event in events[1:]:
        event.previous_hash = previous
        event.hash = event_hash(event, [])
        AuditEvent.objects.filter(pk=event.pk).update(
            previous_hash=event.previous_hash, hash=event.hash
        )
        previous = event.hash
    assert verify_chain(world.practice.pk) is None
    with pytest.raises(CommandError, match=f"event {events[-1].pk} no longer has the hash"):
        verify()


def test_no_checkpoint_option_only_verifies(world):
    views(world, 1)
    call_command("verify_audit", "--no-checkpoint", stdout=StringIO())
    assert not AuditCheckpoint.objects.exists()


def test_the_checkpoint_task_is_scheduled_and_records_each_chain(world):
    tasks = [entry["task"] for entry in app.conf.beat_schedule.values()]
    assert tasks.count(checkpoint_audit_chains.name) == 1
    chains = AuditEvent.objects.order_by().values_list("chain", flat=True).distinct().count()
    assert checkpoint_audit_chains.delay().get() == chains
    assert set(AuditCheckpoint.objects.values_list("taken_by", flat=True)) == {"beat"}


def test_postgres_trigger_refuses_update_and_delete_of_checkpoints(require_postgres, world):
    views(world, 1)
    checkpoint_chains(taken_by="test")
    checkpoints = AuditCheckpoint.objects.all()
    refused = pytest.raises(DatabaseError, match="audit_auditcheckpoint is append-only")
    with refused, transaction.atomic():
        checkpoints.update(event_count=0)
    with refused, transaction.atomic():
        checkpoints.delete()


def test_after_a_key_rotation_checkpoints_are_signed_again_with_the_new_key(world, settings):
    views(world, 1)
    verify()
    before = AuditCheckpoint.objects.count()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "the next key"
    verify()  # the old checkpoints hold by the fallback; idle chains are signed again
    assert AuditCheckpoint.objects.count() == 2 * before
    settings.SECRET_KEY_FALLBACKS = []
    verify()
    assert AuditCheckpoint.objects.count() == 2 * before
