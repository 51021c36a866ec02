from django.core.management.base import BaseCommand, CommandError

from telehealth.audit.checkpoints import (
    checkpoint_chains,
    checkpoint_problem,
    last_checkpoints,
    last_checkpoints_in_file,
)
from telehealth.audit.models import SYSTEM_CHAIN, AuditEvent, chain_parts
from telehealth.audit.services import verify_chains


def chain_name(chain: int) -> str:
    practice_id, shard = chain_parts(chain)
    name = "system chain" if practice_id == SYSTEM_CHAIN else f"chain of practice {practice_id}"
    return f"{name}, shard {shard}" if shard else name


class Command(BaseCommand):
    help = (
        "Walk every audit hash chain and name the first broken link of each; check that each "
        "chain still reaches its last checkpoint; then record each chain's head as a new one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="Only verify; record no checkpoint (a read-only copy, a restore under review).",
        )

    def handle(self, *args, **options):
        walked = verify_chains()
        recorded = last_checkpoints()
        in_file, broken = last_checkpoints_in_file()
        for chain in sorted(set(walked) | set(recorded) | set(in_file)):
            problems = []
            event = walked.get(chain)
            if event is not None:
                problems.append(
                    f"broken at event {event.pk} ({event}): its hash or its link to the previous "
                    "event does not match. Events of this chain from there on cannot be trusted."
                )
            for where, checkpoint in (("table", recorded.get(chain)), ("file", in_file.get(chain))):
                problem = checkpoint and checkpoint_problem(checkpoint)
                if problem:
                    problems.append(f"{problem} (checkpoint {where}).")
            if problems:
                broken.extend(f"{chain_name(chain)}: {problem}" for problem in problems)
            else:
                count = AuditEvent.objects.filter(chain=chain).count()
                self.stdout.write(f"{chain_name(chain)}: intact, {count} events verified.")
        if broken:
            raise CommandError("Audit chain broken.\n" + "\n".join(broken))
        count = AuditEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} events verified."))
        if options["no_checkpoint"]:
            return
        for checkpoint in checkpoint_chains(taken_by="verify_audit"):
            self.stdout.write(
                f"Checkpoint: {chain_name(checkpoint.chain)} at event {checkpoint.last_event_id}, "
                f"{checkpoint.event_count} events, hash {checkpoint.head_hash}."
            )
