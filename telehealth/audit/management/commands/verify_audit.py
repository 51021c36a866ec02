from django.core.management.base import BaseCommand, CommandError

from telehealth.audit.models import SYSTEM_CHAIN, AuditEvent
from telehealth.audit.services import verify_chains


def chain_name(chain: int) -> str:
    return "system chain" if chain == SYSTEM_CHAIN else f"chain of practice {chain}"


class Command(BaseCommand):
    help = "Walk every audit hash chain and name the first broken link of each."

    def handle(self, *args, **options):
        broken = []
        for chain, event in verify_chains().items():
            if event is None:
                count = AuditEvent.objects.filter(chain=chain).count()
                self.stdout.write(f"{chain_name(chain)}: intact, {count} events verified.")
            else:
                broken.append(
                    f"{chain_name(chain)}: broken at event {event.pk} ({event}): its hash or its "
                    "link to the previous event does not match. Events of this chain from there "
                    "on cannot be trusted."
                )
        if broken:
            raise CommandError("Audit chain broken.\n" + "\n".join(broken))
        count = AuditEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} events verified."))
