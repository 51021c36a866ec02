"""On PostgreSQL the server binds every statement's parameters, and a statement a pooled
connection runs again and again is prepared there once instead of parsed and planned each
time (telehealth/settings.py). Planning was most of the database's time for a portal page;
settings that lost either would still pass every other test."""

import pytest
from django.db import connection, connections

from scheduling import patient_page
from tests.conftest import sign_in

pytestmark = pytest.mark.usefixtures("require_postgres")


def prepared(text: str) -> int:
    """How many statements prepared on this connection contain `text`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"]
        )
        return cursor.fetchone()[0]


def test_a_statement_run_again_is_prepared_once_with_its_parameters_left_to_the_server():
    statement = "SELECT count(*) FROM accounts_practice WHERE id > %s"
    with connection.cursor() as cursor:
        for floor in range(4):
            cursor.execute(statement, [floor])
    assert prepared("accounts_practice WHERE id > $1") == 0  # not yet: run only four times
    with connection.cursor() as cursor:
        for floor in range(4, 8):
            cursor.execute(statement, [floor])
    assert prepared("accounts_practice WHERE id > $1") == 1


def test_the_patients_appointments_page_reads_its_rows_by_a_prepared_statement(client, world):
    sign_in(client, world.patient.user)
    for _ in range(6):
        assert client.get("/scheduling/mine/").status_code == 200
    # The page's one statement, whatever the clock said: `now` is a parameter, not text.
    assert "t.name_es FROM scheduling_appointmenttype t" in patient_page._PART
    assert prepared("t.name_es FROM scheduling_appointmenttype t") == 1


@pytest.mark.django_db(transaction=True)  # autocommit, as a pooled request's connection is
def test_a_statement_a_migration_made_stale_is_planned_again_not_refused():
    """A deploy migrates while the old processes still serve: a column their prepared statement
    returns gets longer, and PostgreSQL refuses the statement ("cached plan must not change
    result type") until the connection drops it (telehealth/prepared_statements.py)."""
    statement = "SELECT id, name FROM prepared_probe WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE prepared_probe (id integer, name varchar(10))")
        cursor.execute("INSERT INTO prepared_probe VALUES (1, 'Pat')")
    migrating = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            for _ in range(6):
                cursor.execute(statement, [1])
        assert prepared("prepared_probe WHERE id = $1") == 1
        with migrating.cursor() as cursor:
            cursor.execute("ALTER TABLE prepared_probe ALTER COLUMN name TYPE varchar(20)")
        for _ in range(2):
            with connection.cursor() as cursor:
                cursor.execute(statement, [1])
                assert cursor.fetchall() == [(1, "Pat")]
    finally:
        migrating.close()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE prepared_probe")
