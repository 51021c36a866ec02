"""Several chains per practice: a practice's events spread over AUDIT_CHAINS_PER_PRACTICE
chains by patient (else actor), each a hash chain that verifies and is checkpointed alone."""

import threading
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from telehealth.audit import services as audit
from telehealth.audit.checkpoints import checkpoint_chains
from telehealth.audit.models import (
    SYSTEM_CHAIN,
    Action,
    AuditCheckpoint,
    AuditEvent,
    chain_key,
    chain_parts,
)
from telehealth.audit.services import (
    CHAIN_LOCK_CLASS,
    GENESIS_HASH,
    _lock_key,
    chain_for,
    chains,
    distinct_chains,
    verify_chain,
    verify_chains,
)
from telehealth.audit.tasks import checkpoint_audit_chains
from tests.audit.test_audit_chains import open_tampering
from tests.audit.test_audit_checkpoints import empty_audit_tables
from tests.conftest import sign_in

SHARDS = 16
# Patients by id only (the events name them; the staff member's practice is the chain's):
# ids 1000..1015 fall on each of the 16 shards once.
PATIENT_IDS = range(1000, 1000 + 2 * SHARDS)


# Each event in its own transaction, as page views are: within one transaction a practice's
# events follow the first one's chain (see test_one_transaction_keeps_to_one_chain_per_practice).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sixteen_chains(settings):
    settings.AUDIT_CHAINS_PER_PRACTICE = SHARDS


@pytest.fixture(autouse=True)
def empty_log(world):
    """The world's set-up is audited too, into the shards its own ids pick (a patient whose id
    shares 1001's shard puts an event on that chain); each test starts from an empty log, so a
    new chain starts at genesis and the events counted are the test's own."""
    empty_audit_tables()


def view(world, patient_id: int, actor=None) -> AuditEvent:
    return audit.record(action=Action.VIEW, actor=actor or world.front_desk, patient=patient_id)


def practice_chains(world) -> list[int]:
    return [c for c in chains() if chain_parts(c)[0] == world.practice.pk]


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_a_practices_events_spread_over_its_chains_by_patient_and_each_verifies(world):
    before = set(chains())
    events = [view(world, patient_id) for patient_id in PATIENT_IDS]
    for event, patient_id in zip(events, PATIENT_IDS, strict=True):
        assert event.chain == chain_key(world.practice.pk, patient_id % SHARDS)
        assert chain_parts(event.chain) == (world.practice.pk, patient_id % SHARDS)
    assert len(practice_chains(world)) == SHARDS
    # A patient's second event links to their first; different patients' chains do not meet.
    first, second = events[:SHARDS], events[SHARDS:]
    assert [e.previous_hash for e in second] == [e.hash for e in first]
    started = [e for e in first if e.chain not in before]
    assert started and all(e.previous_hash == GENESIS_HASH for e in started)
    assert all(broken is None for broken in verify_chains().values())


def test_an_event_about_several_patients_or_none_goes_to_its_actors_chain(world):
    page = audit.record_many(
        action=Action.VIEW,
        actor=world.front_desk,
        objects=[(world.patient, None), (world.other_patient, None)],
    )
    sign_in_event = audit.record(action=Action.LOGIN, actor=world.clinician)
    assert page.chain == chain_for(world.practice.pk, world.front_desk.pk)
    assert sign_in_event.chain == chain_for(world.practice.pk, world.clinician.pk)
    alone = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    assert alone.chain == chain_for(world.practice.pk, world.patient.pk)


def test_one_transaction_keeps_to_one_chain_per_practice(world):
    """Two events of one practice in one transaction share the first one's chain: two chain
    locks taken in opposite orders by two transactions would deadlock. After a rollback,
    nothing is held any more and the next event picks its own chain again."""
    with transaction.atomic():
        first = view(world, 1000)
        second = view(world, 1001)
        outside = audit.record(action=Action.VIEW, actor=world.clinician)
    assert first.chain == chain_for(world.practice.pk, 1000)
    assert second.chain == first.chain and second.previous_hash == first.hash
    assert outside.chain == first.chain
    with pytest.raises(RuntimeError), transaction.atomic():
        view(world, 1002)
        raise RuntimeError("rolled back")
    assert view(world, 1003).chain == chain_for(world.practice.pk, 1003)
    assert view(world, 1001).chain == chain_for(world.practice.pk, 1001)
    assert verify_chain() is None


def test_a_transaction_links_its_own_events_without_another_round_trip(world):
    """The second event of a transaction in a chain links to the first as written; one rolled
    back in a savepoint is forgotten with it, and the next transaction reads the tail (and
    locks) afresh. PostgreSQL: each event is one call of `audit_append`, which takes the lock
    the transaction already holds without waiting and reads the tail as the transaction sees
    it. SQLite: the second event reads nothing, linking to the hash the first left."""
    with transaction.atomic():
        first = view(world, 1000)
        with CaptureQueriesContext(connection) as captured:
            second = view(world, 1000)
        with pytest.raises(RuntimeError), transaction.atomic():
            view(world, 1000)
            raise RuntimeError("rolled back")
        third = view(world, 1000)
    statements = [query["sql"] for query in captured.captured_queries]
    postgresql = connection.vendor == "postgresql"
    assert len([sql for sql in statements if "audit_append(" in sql]) == (1 if postgresql else 0)
    assert [sql for sql in statements if "FROM audit_auditevent" in sql] == []
    assert second.previous_hash == first.hash and third.previous_hash == second.hash
    with CaptureQueriesContext(connection) as captured:
        fourth = view(world, 1000)
    statements = [query["sql"] for query in captured.captured_queries]
    if postgresql:
        assert len([sql for sql in statements if "audit_append(" in sql]) == 1
    else:
        assert len([sql for sql in statements if "FROM audit_auditevent" in sql]) == 1
    assert fourth.previous_hash == third.hash
    assert verify_chain(first.chain) is None


def test_the_chain_a_patient_picks_does_not_depend_on_the_actor(world):
    by_desk = view(world, 1003, actor=world.front_desk)
    by_clinician = view(world, 1003, actor=world.clinician)
    assert by_desk.chain == by_clinician.chain
    assert by_clinician.previous_hash == by_desk.hash


def test_a_practices_chain_from_before_shards_goes_on_as_its_shard_zero(world, settings):
    settings.AUDIT_CHAINS_PER_PRACTICE = 1
    old = [view(world, patient_id) for patient_id in PATIENT_IDS[:5]]
    assert {e.chain for e in old} == {world.practice.pk}
    settings.AUDIT_CHAINS_PER_PRACTICE = SHARDS
    # Nothing to pick a shard by (no patient, no actor): shard 0, the old chain, continued.
    zero = audit.record(action=Action.UPDATE, obj=world.practice)
    assert zero.chain == world.practice.pk and zero.previous_hash == old[-1].hash
    new = view(world, 1001)
    assert new.chain != world.practice.pk and new.previous_hash == GENESIS_HASH
    assert verify_chain(world.practice.pk) is None and verify_chain(new.chain) is None


def test_lowering_the_setting_leaves_the_chains_above_it_verified_and_checkpointed(world, settings):
    shards = {view(world, patient_id).chain for patient_id in PATIENT_IDS[:SHARDS]}
    assert "Audit chain intact" in verify()
    settings.AUDIT_CHAINS_PER_PRACTICE = 2
    later = view(world, 1005)
    assert later.chain == chain_key(world.practice.pk, 1)
    assert set(practice_chains(world)) == shards  # no new chain; none forgotten
    out = verify()
    for shard in range(2, SHARDS):
        assert f"chain of practice {world.practice.pk}, shard {shard}: intact" in out
    # A checkpointed chain that no new event reaches keeps its checkpoint, and it is checked.
    open_tampering()
    cut = AuditEvent.objects.filter(chain=chain_key(world.practice.pk, 9))
    cut.delete()
    with pytest.raises(CommandError, match=f"practice {world.practice.pk}, shard 9: event"):
        verify()


def test_verify_audit_and_checkpoints_cover_every_chain_and_name_a_tampered_shard(world):
    events = [view(world, patient_id) for patient_id in PATIENT_IDS]
    out = verify()
    for shard in range(1, SHARDS):
        assert f"chain of practice {world.practice.pk}, shard {shard}: intact" in out
    checkpoints = {c.chain: c for c in AuditCheckpoint.objects.all()}
    assert set(checkpoints) == set(chains())
    for event in events[SHARDS:]:
        assert checkpoints[event.chain].last_event_id == event.pk
    open_tampering()
    tampered = events[5]  # the first of its chain's two events
    AuditEvent.objects.filter(pk=tampered.pk).update(detail="/elsewhere/")
    shard = chain_parts(tampered.chain)[1]
    with pytest.raises(CommandError) as failure:
        verify()
    message = str(failure.value)
    assert f"chain of practice {world.practice.pk}, shard {shard}: broken at event" in message
    assert f"event {tampered.pk}" in message
    assert message.count("broken at event") == 1  # the other fifteen chains are intact


def test_the_hourly_task_checkpoints_every_shard_and_blesses_no_cut_one(world):
    for patient_id in PATIENT_IDS:
        view(world, patient_id)
    assert checkpoint_audit_chains() == len(chains())
    more = [view(world, patient_id) for patient_id in PATIENT_IDS[:3]]
    assert checkpoint_audit_chains() == 3  # only the chains that grew
    cut = more[1]
    open_tampering()
    AuditEvent.objects.filter(pk=cut.pk).delete()  # the checkpointed head of its chain
    again = [view(world, patient_id) for patient_id in PATIENT_IDS[:3]]
    assert again[1].chain == cut.chain
    assert verify_chain(cut.chain) is None  # the hash walk cannot see the missing event...
    written = {c.chain for c in checkpoint_chains(taken_by="beat")}
    assert written == {more[0].chain, more[2].chain}  # ...its chain's checkpoint does
    with pytest.raises(CommandError, match=f"event {cut.pk}, its newest at the checkpoint"):
        verify()


def test_a_chain_no_setting_names_is_still_verified(world):
    """Chains are read from the events themselves: an event written straight into the table,
    under a key no shard count would give, is walked (and here, refused) like any other."""
    view(world, 1000)
    stray = chain_key(world.practice.pk, 999)
    AuditEvent.objects.create(
        chain=stray,
        hash_version=2,
        occurred_at="2026-01-01T00:00Z",
        actor=world.front_desk,
        action=Action.VIEW,
        previous_hash=GENESIS_HASH,
        hash="f" * 64,
    )
    assert stray in chains()
    assert verify_chains()[stray] is not None
    with pytest.raises(CommandError, match=f"practice {world.practice.pk}, shard 999: broken"):
        verify()


def test_listing_chains_never_reads_every_event(world):
    for patient_id in PATIENT_IDS:
        view(world, patient_id)
    with CaptureQueriesContext(connection) as queries:
        checkpoint_chains(taken_by="beat")
    statements = [q["sql"].upper() for q in queries.captured_queries]
    assert not [sql for sql in statements if "DISTINCT" in sql], statements
    assert distinct_chains(AuditEvent) == sorted(
        set(AuditEvent.objects.values_list("chain", flat=True))
    )
    assert distinct_chains(AuditCheckpoint) == sorted(
        set(AuditCheckpoint.objects.values_list("chain", flat=True))
    )


def test_a_patients_accounting_lists_their_events_from_every_chain(client, world):
    single = audit.record(action=Action.VIEW, actor=world.front_desk, obj=world.patient)
    # A page about two patients goes to its actor's chain: one whose chain is another one.
    actor = next(
        user
        for user in (world.front_desk, world.clinician, world.admin)
        if chain_for(world.practice.pk, user.pk) != single.chain
    )
    page = audit.record_many(
        action=Action.VIEW,
        actor=actor,
        objects=[(world.patient, None), (world.other_patient, None)],
    )
    assert single.chain != page.chain
    sign_in(client, world.admin)
    response = client.get(reverse("accounts:patient-audit", args=[world.patient.pk]))
    assert response.status_code == 200
    shown = {event.pk for event in response.context["events"]}
    assert {single.pk, page.pk} <= shown


def test_shard_zero_keeps_the_lock_of_the_chain_before_shards_and_shards_differ():
    """A process still running the code from before shards takes (class, practice id) for the
    practice's chain: shard 0 must take the same lock, or both could link to one tail."""
    assert _lock_key(chain_key(7, 0)) == (CHAIN_LOCK_CLASS, 7)
    assert _lock_key(SYSTEM_CHAIN) == (CHAIN_LOCK_CLASS, 0)
    keys = {_lock_key(chain_key(practice, shard)) for practice in (1, 2, 3) for shard in range(16)}
    assert len(keys) == 48


def test_a_shard_count_out_of_range_is_refused(settings):
    settings.AUDIT_CHAINS_PER_PRACTICE = 0
    with pytest.raises(ImproperlyConfigured):
        chain_for(1, 5)
    settings.AUDIT_CHAINS_PER_PRACTICE = 1025
    with pytest.raises(ImproperlyConfigured):
        chain_for(1, 5)


def hold(world, patient_id: int, held: threading.Event, release: threading.Event, errors: list):
    """Write an event about the patient and keep its transaction (and chain lock) open."""
    try:
        with transaction.atomic():
            view(world, patient_id)
            held.set()
            release.wait(20)
    except Exception as exc:  # collected and asserted by the test
        errors.append(exc)
    finally:
        connection.close()


def write_one(world, patient_id: int, done: threading.Event, errors: list) -> None:
    try:
        view(world, patient_id)
        done.set()
    except Exception as exc:  # collected and asserted by the test
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_two_patients_of_one_practice_do_not_wait_for_each_others_chain(require_postgres, world):
    a, b, a_again = 1000, 1001, 1000 + SHARDS  # a and a_again share a chain, b has its own
    assert chain_for(world.practice.pk, a) == chain_for(world.practice.pk, a_again)
    assert chain_for(world.practice.pk, a) != chain_for(world.practice.pk, b)
    held, release = threading.Event(), threading.Event()
    errors: list[Exception] = []
    holder = threading.Thread(target=hold, args=(world, a, held, release, errors))
    holder.start()
    try:
        assert held.wait(10)
        other_done, same_done = threading.Event(), threading.Event()
        other = threading.Thread(target=write_one, args=(world, b, other_done, errors))
        same = threading.Thread(target=write_one, args=(world, a_again, same_done, errors))
        same.start()
        other.start()
        # Patient b's event commits while patient a's chain is locked...
        assert other_done.wait(10)
        # ...and a second writer of a's chain waits for the holder.
        assert not same_done.wait(0.5)
    finally:
        release.set()
        holder.join(10)
    same.join(10)
    other.join(10)
    assert errors == []
    assert same_done.is_set()
    chain_a = AuditEvent.objects.filter(chain=chain_for(world.practice.pk, a))
    assert chain_a.count() == 2
    assert verify_chain() is None


@pytest.mark.django_db(transaction=True)
def test_writers_of_one_shard_never_fork_it_while_other_shards_go_on(require_postgres, world):
    errors: list[Exception] = []
    same_chain = [1000 + SHARDS * i for i in range(4)]  # four patients, one chain
    other_chains = [1001, 1002, 1003, 1004]

    def write(patient_id):
        try:
            for _ in range(10):
                view(world, patient_id)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=write, args=(p,)) for p in same_chain + other_chains]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    chain = chain_for(world.practice.pk, same_chain[0])
    events = AuditEvent.objects.filter(chain=chain)
    # The world's own events may share the chain (ids differ from run to run): count ours.
    assert events.filter(patient_id__in=same_chain).count() == 40
    links = list(events.values_list("previous_hash", flat=True))
    assert len(set(links)) == len(links)  # no two events linked to one tail
    assert all(broken is None for broken in verify_chains().values())
    assert len(practice_chains(world)) >= 5
