"""Checkpoints: each chain's head, kept where deleting events does not reach it.

A hash chain proves that nothing inside it changed, not that nothing was cut off its end:
deleting a chain's newest events, or emptying the table, leaves a chain that still verifies.
So the head of each chain (its newest event, that event's hash, and how many events lead up to
it) is recorded, hourly by Celery beat and after each `verify_audit`, in three places:

- an `AuditCheckpoint` row, append-only on PostgreSQL like the events, signed with the secret
  key so that a row inserted to bless a shortened chain is refused;
- the log (`telehealth.audit.checkpoints`, INFO), for a log service to keep;
- `AUDIT_CHECKPOINT_FILE` when it is set, one signed JSON line per checkpoint, for a file the
  application may only append to (or that is shipped elsewhere), so that emptying the
  checkpoint table along with the events is caught too.

A chain must still reach its last checkpoint: that event, with that hash, after exactly that
many events. `verify_audit` fails when it does not; the periodic task then writes no new
checkpoint over the loss (that would bless it) and logs an error instead."""

import json
import logging
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telehealth.audit.models import AuditCheckpoint, AuditEvent
from telehealth.audit.services import distinct_chains

logger = logging.getLogger(__name__)
_SALT = "telehealth.audit.checkpoint"


def _signed_text(checkpoint: AuditCheckpoint) -> str:
    return json.dumps(
        {
            "chain": checkpoint.chain,
            "last_event_id": checkpoint.last_event_id,
            "head_hash": checkpoint.head_hash,
            "event_count": checkpoint.event_count,
            "taken_at": checkpoint.taken_at.isoformat(),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def _signature(checkpoint: AuditCheckpoint) -> str:
    return signing.Signer(salt=_SALT).signature(_signed_text(checkpoint))


def _signature_holds(checkpoint: AuditCheckpoint) -> bool:
    """Signed with SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
    signer = signing.Signer(salt=_SALT)
    try:
        signer.unsign(f"{_signed_text(checkpoint)}{signer.sep}{checkpoint.signature}")
    except signing.BadSignature:
        return False
    return True


def checkpoint_problem(checkpoint: AuditCheckpoint, *, count: bool = True) -> str | None:
    """Why the chain no longer agrees with this checkpoint, or None when it does. Without
    `count`, the events before the head are not counted (the hash walk of `verify_audit`
    catches a gap there anyway), so the check costs two index look-ups."""
    when = f"{checkpoint.taken_at:%Y-%m-%d %H:%M:%S} UTC"
    if not _signature_holds(checkpoint):
        return (
            f"its checkpoint of {when} is not signed with this installation's secret key: "
            "forged or altered"
        )
    events = AuditEvent.objects.filter(chain=checkpoint.chain)
    head_hash = events.filter(pk=checkpoint.last_event_id).values_list("hash", flat=True).first()
    if head_hash is None:
        return (
            f"event {checkpoint.last_event_id}, its newest at the checkpoint of {when}, is gone: "
            "events were deleted from the end of the chain, or the table was emptied"
        )
    if head_hash != checkpoint.head_hash:
        return (
            f"event {checkpoint.last_event_id} no longer has the hash recorded at the checkpoint "
            f"of {when}: the chain was rewritten"
        )
    if count:
        found = events.filter(pk__lte=checkpoint.last_event_id).count()
        if found != checkpoint.event_count:
            return (
                f"{found} events lead up to event {checkpoint.last_event_id}, where the "
                f"checkpoint of {when} counted {checkpoint.event_count}"
            )
    return None


def last_checkpoints() -> dict[int, AuditCheckpoint]:
    """Each chain's checkpoint with the newest head, from the table: one index look-up per
    chain, never a read of every checkpoint."""
    found = {}
    for chain in distinct_chains(AuditCheckpoint):
        checkpoint = AuditCheckpoint.objects.filter(chain=chain).order_by("-last_event_id", "-id")
        found[chain] = checkpoint[0]
    return found


def last_checkpoints_in_file() -> tuple[dict[int, AuditCheckpoint], list[str]]:
    """Each chain's checkpoint with the newest head in `AUDIT_CHECKPOINT_FILE` (none when it is
    not set or not there yet), and the lines that are not checkpoints."""
    path = settings.AUDIT_CHECKPOINT_FILE
    found: dict[int, AuditCheckpoint] = {}
    unreadable: list[str] = []
    if not path or not Path(path).exists():
        return found, unreadable
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
                taken_at = parse_datetime(fields["taken_at"])
                if taken_at is None:
                    raise ValueError(fields["taken_at"])
                checkpoint = AuditCheckpoint(
                    chain=int(fields["chain"]),
                    last_event_id=int(fields["last_event_id"]),
                    head_hash=str(fields["head_hash"]),
                    event_count=int(fields["event_count"]),
                    taken_at=taken_at,
                    taken_by=str(fields.get("taken_by", "")),
                    signature=str(fields["signature"]),
                )
            except (ValueError, KeyError, TypeError):
                unreadable.append(f"line {number} of {path} is not a checkpoint")
                continue
            newest = found.get(checkpoint.chain)
            if newest is not None and not _grew_from(newest, checkpoint):
                # A later head with fewer events (or more than the ids allow): events between
                # the two were deleted and the chain went on from what was left.
                unreadable.append(
                    f"line {number} of {path}: chain {checkpoint.chain} has "
                    f"{checkpoint.event_count} events at event {checkpoint.last_event_id}, "
                    f"after {newest.event_count} at event {newest.last_event_id}"
                )
            if newest is None or checkpoint.last_event_id >= newest.last_event_id:
                found[checkpoint.chain] = checkpoint
    return found, unreadable


def _grew_from(earlier: AuditCheckpoint, later: AuditCheckpoint) -> bool:
    """Whether `later` can follow `earlier` with nothing removed: ids only grow, so the count
    grows by at least nothing and at most the ids between them (in either order in the file)."""
    if later.last_event_id < earlier.last_event_id:
        earlier, later = later, earlier
    added = later.event_count - earlier.event_count
    return 0 <= added <= later.last_event_id - earlier.last_event_id


def checkpoint_chains(*, taken_by: str) -> list[AuditCheckpoint]:
    """Record the head of every chain that grew since its last checkpoint, or whose last
    checkpoint holds only by a key in SECRET_KEY_FALLBACKS (so the key can be retired).

    No lock is needed: a chain's writers insert under its lock and commit before the next one
    takes it, so the events up to a committed head never change in number afterwards. A chain
    that no longer reaches its last checkpoint gets no new one: the loss is logged as an error
    and left for `verify_audit` to report."""
    last = last_checkpoints()
    # The file is read too: emptying the table must not let a chain that lost its tail be
    # signed off afresh from what is left.
    in_file, file_problems = last_checkpoints_in_file()
    for problem in file_problems:
        logger.error("audit checkpoint file: %s", problem)
    # Every chain found in the events (a skip scan: one index look-up per chain, whichever
    # shards the setting names today), in the table's checkpoints or in the file's.
    chains = set(last) | set(in_file) | set(distinct_chains(AuditEvent))
    written = []
    for chain in sorted(chains):
        known = [c for c in (last.get(chain), in_file.get(chain)) if c is not None]
        problems = [p for p in (checkpoint_problem(c, count=False) for c in known) if p]
        if problems:
            logger.error("audit chain %s does not reach its checkpoint: %s", chain, problems)
            continue
        previous = last.get(chain)
        head = (
            AuditEvent.objects.filter(chain=chain).order_by("-id").values_list("pk", "hash").first()
        )
        if head is None or (
            previous is not None
            and head[0] == previous.last_event_id
            and previous.signature == _signature(previous)
        ):
            continue  # unchanged, and not signed with a key about to be retired
        since, counted = (previous.last_event_id, previous.event_count) if previous else (0, 0)
        new = AuditEvent.objects.filter(chain=chain, pk__gt=since, pk__lte=head[0]).count()
        checkpoint = AuditCheckpoint(
            chain=chain,
            last_event_id=head[0],
            head_hash=head[1],
            event_count=counted + new,
            taken_at=timezone.now(),
            taken_by=taken_by,
        )
        checkpoint.signature = _signature(checkpoint)
        checkpoint.save(force_insert=True)
        _publish(checkpoint)
        written.append(checkpoint)
    return written


def _publish(checkpoint: AuditCheckpoint) -> None:
    line = json.dumps(
        {
            **json.loads(_signed_text(checkpoint)),
            "taken_by": checkpoint.taken_by,
            "signature": checkpoint.signature,
        },
        sort_keys=True,
    )
    logger.info("audit checkpoint %s", line)
    if settings.AUDIT_CHECKPOINT_FILE:
        with open(settings.AUDIT_CHECKPOINT_FILE, "a", encoding="utf-8") as file:
            file.write(line + "\n")
