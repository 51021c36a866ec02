from django.core.management.base import BaseCommand, CommandError

from telehealth.audit.models import AuditEvent
from telehealth.audit.services import verify_chain


class Command(BaseCommand):
    help = "Walk the audit hash chain and name the first broken link."

    def handle(self, *args, **options):
        broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"Audit chain broken at event {broken.pk} ({broken}): its hash or its link to "
                "the previous event does not match. Events from there on cannot be trusted."
            )
        count = AuditEvent.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {count} events verified."))
