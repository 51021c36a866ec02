"""Data-migration steps for moving plaintext PHI under encryption.

Each returns a RunPython operation for a migration's `operations`. They read and write stored
values with SQL (historical models would run the current field code), skip values already
encrypted, and so can be re-run after a failure.
"""

import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.fernet import InvalidToken
from django.db import migrations, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from telehealth.crypto.keys import blind_index, decrypt_bytes, encrypt_bytes
from telehealth.crypto.storage import RANDOM_NAME, random_file_name

BATCH = 500
Step = Callable[[StateApps, BaseDatabaseSchemaEditor], None]


def is_token(value: str) -> bool:
    try:
        decrypt_bytes(value.encode())
    except (InvalidToken, ValueError):
        return False
    return True


def plain(value: str) -> str:
    return decrypt_bytes(value.encode()).decode() if is_token(value) else value


def _rows(
    schema_editor: BaseDatabaseSchemaEditor, table: str, columns: list[str]
) -> Iterator[tuple[Any, ...]]:
    """(pk, *values) of every row, in primary-key batches."""
    quote = schema_editor.connection.ops.quote_name
    select = ", ".join(quote(c) for c in ["id", *columns])
    last = None
    while True:
        with schema_editor.connection.cursor() as cursor:
            where = "WHERE id > %s" if last is not None else ""
            cursor.execute(
                f"SELECT {select} FROM {quote(table)} {where} ORDER BY id LIMIT %s",  # noqa: S608
                [last, BATCH] if last is not None else [BATCH],
            )
            batch = cursor.fetchall()
        if not batch:
            return
        yield from batch
        last = batch[-1][0]


def _update(
    schema_editor: BaseDatabaseSchemaEditor, table: str, pk: Any, changes: dict[str, str]
) -> None:
    quote = schema_editor.connection.ops.quote_name
    assignments = ", ".join(f"{quote(c)} = %s" for c in changes)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(table)} SET {assignments} WHERE id = %s",  # noqa: S608
            [*changes.values(), pk],
        )


def _table(apps: StateApps, model: str) -> str:
    return apps.get_model(model)._meta.db_table


def encrypt_columns(model: str, *columns: str) -> migrations.RunPython:
    """Encrypt the plaintext in text columns of `model` ("app_label.Model"); the reverse
    decrypts. Empty values stay empty, as EncryptedTextField stores them."""

    def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        table = _table(apps, model)
        for pk, *values in _rows(schema_editor, table, list(columns)):
            changes = {
                column: encrypt_bytes(value.encode()).decode()
                for column, value in zip(columns, values, strict=True)
                if value and not is_token(value)
            }
            if changes:
                _update(schema_editor, table, pk, changes)

    def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        table = _table(apps, model)
        for pk, *values in _rows(schema_editor, table, list(columns)):
            changes = {
                column: plain(value)
                for column, value in zip(columns, values, strict=True)
                if value and is_token(value)
            }
            if changes:
                _update(schema_editor, table, pk, changes)

    return migrations.RunPython(forwards, backwards, elidable=False)


def encrypt_and_index_emails(model: str, column: str, index_column: str) -> migrations.RunPython:
    """Encrypt an email column and fill its blind index over the trimmed, lowercased email
    (the form `telehealth.accounts.models.email_index` computes). The reverse decrypts and
    leaves the index for the schema step that drops it."""

    def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        table = _table(apps, model)
        for pk, value, index in _rows(schema_editor, table, [column, index_column]):
            email = plain(value or "")
            changes = {index_column: blind_index(email.strip().lower())}
            if email and not is_token(value):
                changes[column] = encrypt_bytes(email.encode()).decode()
            if changes != {index_column: index}:
                _update(schema_editor, table, pk, changes)

    def backwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        table = _table(apps, model)
        for pk, value in _rows(schema_editor, table, [column]):
            if value and is_token(value):
                _update(schema_editor, table, pk, {column: plain(value)})

    return migrations.RunPython(forwards, backwards, elidable=False)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _remover(path: str) -> Callable[[], None]:
    def remove() -> None:
        if os.path.exists(path):
            os.remove(path)

    return remove


def randomise_file_names(model: str, *fields: str) -> migrations.RunPython:
    """Move stored files named after their uploads to random names in the same folder.

    The file is linked under its new name before the row changes, and the old name removed
    only once the migration's transaction commits: a failure leaves at most an orphaned
    (still encrypted) copy, never a row pointing at nothing. Not reversed: the random names
    work with earlier code too, and putting PHI back into paths is not wanted."""

    def forwards(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        model_class = apps.get_model(model)
        table = model_class._meta.db_table
        columns = [model_class._meta.get_field(name).column for name in fields]
        for pk, *names in _rows(schema_editor, table, columns):
            changes = {}
            for name, old in zip(fields, names, strict=True):
                if not old or RANDOM_NAME.fullmatch(posixpath.basename(old)):
                    continue
                storage = model_class._meta.get_field(name).storage
                new = posixpath.join(posixpath.dirname(old), random_file_name())
                if storage.exists(old):
                    _link_or_copy(storage.path(old), storage.path(new))
                    transaction.on_commit(
                        _remover(storage.path(old)), using=schema_editor.connection.alias
                    )
                changes[model_class._meta.get_field(name).column] = new
            if changes:
                _update(schema_editor, table, pk, changes)

    return migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)
