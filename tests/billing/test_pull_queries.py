"""The pull reads what it works from a batch at a time: twice the visits (or monitored
patients) cost the same reads of visits, notes, presences, cards, payers, fees and the billing
profile, and only the writes of each encounter grow with them."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.models import BillingProfile, FeeScheduleEntry, Payer
from intake.models import InsuranceCard
from rpm import services as rpm_services
from telehealth.accounts.models import Provider
from tests.billing.test_encounters import billing_set_up, ended_visit, insurance_card
from tests.billing.test_monitoring_encounters import NOW, days_from, readings_on_patient
from tests.conftest import make_patient
from visits.models import Participant, Presence, Visit, VisitNote


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db

# What building one encounter costs, whatever the number of others: its transaction (a
# savepoint inside the test's, 2), the encounter (1), its lines (1), and its audit event (on
# PostgreSQL one call of audit_append, on SQLite the chain's tail and the insert).
WRITES_PER_ENCOUNTER = {"postgresql": 5, "sqlite": 6}

SET_UP_TABLES = tuple(
    model._meta.db_table
    for model in (BillingProfile, Payer, FeeScheduleEntry, InsuranceCard, Provider)
)
VISIT_TABLES = (
    tuple(model._meta.db_table for model in (Visit, Participant, Presence, VisitNote))
    + SET_UP_TABLES
)


def reads_of(queries: CaptureQueriesContext, tables: tuple[str, ...]) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith("SELECT")
        and any(f'"{table}"' in query["sql"] for table in tables)
    )


def pulled(pull, count: int) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        assert pull().built == count
    return queries


def test_twice_the_visits_read_the_same_and_write_one_encounter_more_each(world, video_type):
    billing_set_up(world)
    insurance_card(world.patient)
    insurance_card(world.other_patient)

    def visits(count):
        for n in range(count):
            visit = ended_visit(world, video_type, minutes=20 + 5 * n, at_home=n % 2 == 0)
            Visit.objects.filter(pk=visit.pk).update(
                patient=world.patient if n % 2 else world.other_patient
            )

    visits(3)
    few = pulled(services.pull_completed_visits, 3)
    visits(6)
    many = pulled(services.pull_completed_visits, 6)

    assert reads_of(many, VISIT_TABLES) == reads_of(few, VISIT_TABLES)
    assert len(many) - len(few) <= 3 * WRITES_PER_ENCOUNTER[connection.vendor]


def test_twice_the_monitored_patients_read_the_same_set_up(world):
    billing_set_up(world)
    FeeScheduleEntry.objects.create(
        practice=world.practice, code="99454", charge=50, effective_from=date(2025, 1, 1)
    )

    def monitored(count, offset):
        for n in range(count):
            patient = make_patient(
                world.practice, f"Monitored {offset + n}", f"m{offset + n}@alpha.test", login=False
            )
            insurance_card(patient)
            rpm_services.enroll(
                patient=patient,
                program="hypertension",
                clinicians=[world.clinician],
                by=world.clinician,
            )
            patient.rpm_enrollments.update(start_date=date(2026, 10, 1))
            readings_on_patient(world, patient, days_from(date(2026, 10, 1), 20))

    def pull():
        return services.pull_monitoring(now=NOW)

    monitored(2, 0)
    few = pulled(pull, 2)
    monitored(4, 2)
    many = pulled(pull, 4)

    # The first pull's patients are looked at again (nothing is due): their reads are per
    # period, as are the new patients'; the set-up is read once per pull.
    assert reads_of(many, SET_UP_TABLES) == reads_of(few, SET_UP_TABLES)


def test_a_pull_leaves_the_sessions_commit_setting_as_it_found_it(require_postgres, world):
    def setting():
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    before = setting()
    services.pull_completed_visits()
    services.pull_monitoring(now=NOW)
    assert setting() == before


def test_a_pull_that_fails_inside_a_transaction_raises_its_own_error(require_postgres):
    """Inside an outer transaction (as here, in the test's) a database error aborts it; putting
    the commit setting back then fails too. The pull's own error is the one raised (the
    transaction's rollback undoes the setting anyway), not "current transaction is aborted"."""
    from django.db import DataError

    with (
        pytest.raises(DataError, match="division by zero"),
        services.pull_run(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1/0")
    assert services._run.get() is None
