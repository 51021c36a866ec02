from collections.abc import Callable

from django.core.management.base import BaseCommand

from telehealth.crypto.rotation import rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field and file under the first key of "
        "FIELD_ENCRYPTION_KEYS. Safe to stop and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, verbosity: int, **options):
        def quiet(_: str) -> None:
            pass

        log: Callable[[str], None] = self.stdout.write if verbosity > 1 else quiet
        report = rotate_all(batch_size=batch_size, log=log)
        for label, count in sorted({**report.rows, **report.files}.items()):
            self.stdout.write(f"{label}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {report.total} re-encrypted."))
