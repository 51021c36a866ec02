"""Re-encrypt every encrypted column and file under the first key of FIELD_ENCRYPTION_KEYS.

Resumable by construction: a value already readable by the first key alone is skipped, and each
batch commits on its own, so a run stopped at any point loses nothing and the next run picks up
where it left off. Old keys must stay in FIELD_ENCRYPTION_KEYS until a run reports nothing left.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.db import connection, transaction
from django.db.models import FileField

from telehealth.crypto.fields import encrypted_fields
from telehealth.crypto.keys import fernet, is_under_primary_key
from telehealth.crypto.storage import EncryptedFileSystemStorage


@dataclass
class RotationReport:
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(self.files.values())


def _rotate_columns(model, batch_size: int, report: RotationReport, log: Callable) -> None:
    columns = [f.column for f in encrypted_fields(model)]
    if not columns:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    quoted = [connection.ops.quote_name(c) for c in columns]
    label = model._meta.label
    last_pk = None
    while True:
        # Raw SQL reads the stored tokens, not the decrypted values the fields would return.
        with transaction.atomic(), connection.cursor() as cursor:
            where = f"WHERE {pk} > %s" if last_pk is not None else ""
            cursor.execute(
                f"SELECT {pk}, {', '.join(quoted)} FROM {table} {where} "  # noqa: S608
                f"ORDER BY {pk} LIMIT %s",
                [last_pk, batch_size] if last_pk is not None else [batch_size],
            )
            batch = cursor.fetchall()
            for row_pk, *tokens in batch:
                changes = {}
                for column, token in zip(quoted, tokens, strict=True):
                    if not token or is_under_primary_key(token.encode()):
                        continue
                    changes[column] = fernet().rotate(token.encode()).decode()
                if changes:
                    assignments = ", ".join(f"{c} = %s" for c in changes)
                    cursor.execute(
                        f"UPDATE {table} SET {assignments} WHERE {pk} = %s",  # noqa: S608
                        [*changes.values(), row_pk],
                    )
                    report.rows[label] = report.rows.get(label, 0) + 1
        if not batch:
            break
        last_pk = batch[-1][0]
        log(f"{label}: through id {last_pk}")


def _rotate_files(model, report: RotationReport) -> None:
    file_fields = [
        (f, f.storage)
        for f in model._meta.concrete_fields
        if isinstance(f, FileField) and isinstance(f.storage, EncryptedFileSystemStorage)
    ]
    for file_field, storage in file_fields:
        names = (
            model._default_manager.exclude(**{file_field.name: ""})
            .values_list(file_field.name, flat=True)
            .iterator()
        )
        for name in names:
            if not name or not storage.exists(name):
                continue
            token = storage.read_token(name)
            if is_under_primary_key(token):
                continue
            storage.replace_token(name, fernet().rotate(token))
            label = f"{model._meta.label}.{file_field.name}"
            report.files[label] = report.files.get(label, 0) + 1


def rotate_all(*, batch_size: int = 500, log: Callable[[str], None] = lambda _: None):
    report = RotationReport()
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        _rotate_columns(model, batch_size, report, log)
        _rotate_files(model, report)
    return report
