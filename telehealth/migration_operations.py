"""Migration operations that keep a busy table writable while it is migrated."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations import AddIndex


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
