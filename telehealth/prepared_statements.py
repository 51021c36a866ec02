"""A prepared statement that a migration made stale is planned again, not refused for good.

The server prepares the statements a pooled connection runs again and again (settings,
DB_PREPARED_STATEMENTS). A migration that changes a column such a statement returns (a longer
varchar, another type) makes PostgreSQL refuse it on every connection that prepared it:
"cached plan must not change result type". psycopg forgets its prepared statements only when
the connection itself runs ROLLBACK, DROP, ALTER, DISCARD ALL or DEALLOCATE ALL, and a pooled
connection in autocommit runs none of them: the processes still serving while a deploy
migrates would fail that statement until they restart.

Outside a transaction the refused statement has not run, so it is run again after DEALLOCATE
ALL (which psycopg notices, forgetting its own). Inside one the transaction has failed; its
rollback clears them, so only that transaction fails."""

from django.db import NotSupportedError
from django.db.backends.signals import connection_created
from django.dispatch import receiver

STALE_PLAN = "cached plan must not change result type"


def replan_stale_statement(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as error:
        connection = context["connection"]
        if STALE_PLAN not in str(error) or not connection.get_autocommit():
            raise
        connection.connection.execute("DEALLOCATE ALL")
        return execute(sql, params, many, context)


@receiver(connection_created)
def _install(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    if replan_stale_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(replan_stale_statement)
