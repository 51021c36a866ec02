"""Migration operations that keep a busy table writable while it is migrated."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import NotSupportedError
from django.db.migrations import AddIndex
from django.db.migrations.operations.base import Operation


class AddIndexWithoutLocking(AddIndexConcurrently):
    """`CREATE INDEX CONCURRENTLY` on PostgreSQL, so writes to the table go on while the index
    builds; a plain `CREATE INDEX` elsewhere (SQLite has no concurrent form, and Django's own
    AddIndexConcurrently fails there). The migration must set `atomic = False`.

    Idempotent, because a non-atomic migration that stops half-way is run again: an index of
    that name that is already there is kept, unless PostgreSQL marked it invalid (a concurrent
    build that failed leaves one behind, ignored by queries yet updated by every write), in
    which case it is dropped and built again."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            if not _index_exists(connection, model._meta.db_table, self.index.name):
                AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        self._ensure_not_in_transaction(schema_editor)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
                [self.index.name],
            )
            row = cursor.fetchone()
        if row and row[0]:
            return
        if row:
            schema_editor.execute(
                f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(self.index.name)}"
            )
        schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
        else:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _index_exists(connection, table: str, name: str) -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return name in constraints


class DropIndexWithoutLocking(Operation):
    """`DROP INDEX CONCURRENTLY IF EXISTS` on PostgreSQL, so writes to the table go on while
    the index goes (a plain DROP INDEX waits for every open transaction on the table and holds
    up every write behind it); a plain `DROP INDEX IF EXISTS` elsewhere. The migration must set
    `atomic = False`. Idempotent, like AddIndexWithoutLocking.

    For indexes Django's state does not hold by name: the `_like` twin of a unique CharField,
    or a ForeignKey's own index when the field's `db_index=False` is given to the state alone
    (`SeparateDatabaseAndState`). Reversed, it builds the index again the same way from
    `columns` (SQL, e.g. '"hash" varchar_pattern_ops'); `postgresql_only` indexes exist only
    there."""

    reduces_to_sql = False
    reversible = True

    def __init__(self, *, table: str, name: str, columns: str, postgresql_only: bool = False):
        self.table = table
        self.name = name
        self.columns = columns
        self.postgresql_only = postgresql_only

    def deconstruct(self):
        kwargs: dict[str, str | bool] = {
            "table": self.table,
            "name": self.name,
            "columns": self.columns,
        }
        if self.postgresql_only:
            kwargs["postgresql_only"] = True
        return self.__class__.__qualname__, [], kwargs

    def state_forwards(self, app_label, state):
        pass

    def _runs_on(self, schema_editor) -> bool:
        postgresql = schema_editor.connection.vendor == "postgresql"
        if postgresql and schema_editor.connection.in_atomic_block:
            raise NotSupportedError(
                "Indexes cannot be dropped or built concurrently in a transaction: set "
                "`atomic = False` on the migration."
            )
        return postgresql or not self.postgresql_only

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not self._runs_on(schema_editor):
            return
        concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
        name = schema_editor.quote_name(self.name)
        schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not self._runs_on(schema_editor):
            return
        postgresql = schema_editor.connection.vendor == "postgresql"
        name = schema_editor.quote_name(self.name)
        if postgresql:
            # A failed concurrent build leaves an invalid index under the name: drop it first.
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        concurrently = " CONCURRENTLY" if postgresql else ""
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(f"CREATE INDEX{concurrently} {name} ON {table} ({self.columns})")

    def describe(self):
        return f"Drop index {self.name} on {self.table} without locking it"

    @property
    def migration_name_fragment(self):
        return f"drop_{self.name.lower()}"
