"""Shared fixtures: a practice with one user of each role, an outsider practice, and helpers
to sign in with a verified second factor. Service checks fail under REQUIRE_SERVICES=1."""

import copy
import os
import socket
import sqlite3
from datetime import date, time
from pathlib import Path
from time import monotonic, sleep
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.management.commands import flush as flush_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, transaction
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.db.backends.sqlite3.base import SQLiteCursorWrapper
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.fixtures import validate_django_db
from whitenoise.middleware import WhiteNoiseMiddleware

from scheduling.models import AppointmentType, AvailabilityRule, Modality
from telehealth.accounts import services
from telehealth.accounts.models import CareTeamReason, Practice, Provider, Role

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
PASSWORD = "correct horse battery staple"


_sqlite_execute = SQLiteCursorWrapper.execute


def _sqlite_execute_waiting(self, query, params=None):
    """The SQLite test database is SQLite's shared-cache in-memory database, whose table locks
    fail at once ("database table is locked") where a file database waits a lock out (its
    OPTIONS timeout, 20 s). The browser tests' live servers write to it from several threads at
    once (a page and a socket of one visit), and a page answered 500 now and then. A statement
    refused that way had no effect, and is tried again for up to the same 20 s."""
    deadline = monotonic() + 20
    while True:
        try:
            return _sqlite_execute(self, query, params)
        except sqlite3.OperationalError as error:
            if "table is locked" not in str(error) or monotonic() > deadline:
                raise
            sleep(0.005)


SQLiteCursorWrapper.execute = _sqlite_execute_waiting  # type: ignore[method-assign]
PostgresOperations = PostgresWrapper.ops_class
SQLiteOperations = SQLiteWrapper.ops_class
APPEND_ONLY_TABLES = {
    "audit_auditevent",
    "audit_auditsubject",
    "audit_auditcheckpoint",
}  # a trigger refuses DELETE; TRUNCATE is allowed
# Rows migrate wrote and post_migrate would write again, identically, after every reset.
MIGRATED_ROWS_TABLES = {"django_content_type", "auth_permission"}
_postgres_flush = PostgresOperations.sql_flush
_sqlite_flush = SQLiteOperations.sql_flush


def _postgres_delete_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """Transactional tests reset PostgreSQL with DELETE instead of TRUNCATE: TRUNCATE gives
    every table and index new files, about 2 s per reset for this schema, while deleting the
    few rows a test wrote is immediate. Django's foreign keys are deferred, so the order of
    the deletes does not matter."""
    if reset_sequences or allow_cascade:
        return _postgres_flush(self, style, tables, reset_sequences=True, allow_cascade=True)
    tables = [table for table in tables if table not in MIGRATED_ROWS_TABLES]
    kept = [table for table in tables if table in APPEND_ONLY_TABLES]
    statements = _postgres_flush(self, style, kept) + [
        f"DELETE FROM {self.quote_name(table)};" for table in tables if table not in kept
    ]
    # One round trip for the ~150 statements instead of one each: on a busy machine each
    # round trip waits its turn for a CPU twice (here and in the server).
    return ["\n".join(statements)]


def _sqlite_delete_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if not (reset_sequences or allow_cascade):
        tables = [table for table in tables if table not in MIGRATED_ROWS_TABLES]
    return _sqlite_flush(
        self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
    )


# Content types and permissions stay as migrate made them, so post_migrate, which would only
# write them again, need not run after each reset (another 0.4 s per transactional test).
PostgresOperations.sql_flush = _postgres_delete_flush  # type: ignore[method-assign]
SQLiteOperations.sql_flush = _sqlite_delete_flush  # type: ignore[method-assign]
_emit_post_migrate = emit_post_migrate_signal  # what the flush command calls


def _emit_post_migrate_unless_rows_kept(verbosity, interactive, db, **kwargs):
    """After a reset that kept the content types (and permissions), post_migrate would only
    read them all back, a few queries per app (about 200 in all), to find nothing to add. A
    reset that emptied them (reset_sequences) still gets it."""
    from django.contrib.contenttypes.models import ContentType

    if not ContentType.objects.using(db).exists():
        _emit_post_migrate(verbosity, interactive, db, **kwargs)


flush_command.emit_post_migrate_signal = _emit_post_migrate_unless_rows_kept  # type: ignore[attr-defined]

_add_files_from_finders = WhiteNoiseMiddleware.add_files_from_finders
_files_from_finders: dict[tuple, dict] = {}


def _add_files_from_finders_once(self) -> None:
    """The test client loads the middleware for each Client it makes, and WhiteNoise (serving
    static files through the finders outside production) then reads every static file's
    metadata again: about 15 ms a Client, over a minute a run. The files do not change during a
    run, so the responders are built once for each configuration that shapes them and shared,
    as one middleware instance shares them between requests in a server."""
    key = (
        self.static_prefix,
        self.max_age,
        self.allow_all_origins,
        self.charset,
        self.index_file,
        settings.STATIC_URL,
        repr(settings.STORAGES.get("staticfiles")),  # immutable_file_test asks the storage
        tuple(str(directory) for directory in settings.STATICFILES_DIRS),
        tuple(settings.STATICFILES_FINDERS),
        tuple(settings.INSTALLED_APPS),
        repr(getattr(settings, "WHITENOISE_MIMETYPES", None)),
        # The callables themselves (held by the key, so no other can take their id).
        getattr(settings, "WHITENOISE_ADD_HEADERS_FUNCTION", None),
        getattr(settings, "WHITENOISE_IMMUTABLE_FILE_TEST", None),
    )
    files = _files_from_finders.get(key)
    if files is None:
        existing, self.files = self.files, {}
        _add_files_from_finders(self)
        files = _files_from_finders[key] = self.files
        self.files = existing
    self.files.update(files)


WhiteNoiseMiddleware.add_files_from_finders = _add_files_from_finders_once  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The PostgreSQL test database does not wait for each commit to reach the disk: a crash of
    the server may only lose the last commits of a database the next run recreates, and what
    every other connection sees is unchanged. Each commit waited about 10 ms on the test
    machine's disk (1 ms without), and transactional tests and the servers they start commit
    thousands of times. Set on the database, so every connection (pooled, or a server
    process's) gets it without a statement of its own that query counts would see."""
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                name = connection.ops.quote_name(connection.settings_dict["NAME"])
                cursor.execute(f"ALTER DATABASE {name} SET synchronous_commit TO off")
                cursor.execute("SET synchronous_commit TO off")


def missing_service(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def require_postgres(db):
    if connection.vendor != "postgresql":
        missing_service("this test needs PostgreSQL (set DATABASE_URL)")


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "")


@pytest.fixture
def require_redis():
    url = redis_url()
    if not url:
        missing_service("this test needs Redis (set REDIS_URL)")
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1).close()
    except OSError:
        missing_service(f"Redis at {parsed.hostname}:{parsed.port} does not answer")
    return url


def make_practice(slug: str, name: str) -> Practice:
    return Practice.objects.create(
        name=name, slug=slug, time_zone="America/New_York", phone="+16175550100"
    )


def make_staff(practice: Practice | None, role: str, email: str, name: str, *, enrol: bool = True):
    user = services.staff_user_create(
        email=email, password=PASSWORD, full_name=name, role=role, practice=practice
    )
    if enrol:
        TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


def make_patient(practice: Practice, name: str, email: str, *, login: bool = True, **fields):
    patient = services.patient_create(
        practice=practice,
        legal_name=name,
        date_of_birth=fields.pop("dob", date(1980, 1, 2)),
        phone=fields.pop("phone", "+16175550123"),
        email=email,
        state="MA",
        **fields,
    )
    if login:
        services.patient_user_create(patient=patient, password=PASSWORD)
    return patient


class World:
    """Practice A with a user of every role and a patient on the clinician's care team;
    practice B with its own clinician and patient (the outsiders)."""

    def __init__(self):
        self.practice = make_practice("alpha", "Alpha Health")
        self.clinician = make_staff(self.practice, Role.CLINICIAN, "doc@alpha.test", "Dr Alpha")
        Provider.objects.create(
            user=self.clinician,
            practice=self.practice,
            slug="doc",
            display_name="Dr Alpha",
            npi="1234567893",
            licensed_states=["MA"],
            time_zone="America/New_York",
        )
        self.other_clinician = make_staff(
            self.practice, Role.CLINICIAN, "doc2@alpha.test", "Dr Second"
        )
        self.front_desk = make_staff(self.practice, Role.FRONT_DESK, "desk@alpha.test", "Desk")
        self.admin = make_staff(self.practice, Role.PRACTICE_ADMIN, "admin@alpha.test", "Admin")
        self.patient = make_patient(self.practice, "Pat Alpha", "pat@alpha.test")
        self.other_patient = make_patient(
            self.practice, "Other Alpha", "other@alpha.test", phone="+16175550999"
        )
        services.care_team_add(
            patient=self.patient, clinician=self.clinician, reason=CareTeamReason.ASSIGNED, by=None
        )
        services.care_team_add(
            patient=self.other_patient,
            clinician=self.clinician,
            reason=CareTeamReason.ASSIGNED,
            by=None,
        )
        self.outside_practice = make_practice("beta", "Beta Clinic")
        self.outside_clinician = make_staff(
            self.outside_practice, Role.CLINICIAN, "doc@beta.test", "Dr Beta"
        )
        self.outside_patient = make_patient(self.outside_practice, "Pat Beta", "pat@beta.test")
        services.care_team_add(
            patient=self.outside_patient,
            clinician=self.outside_clinician,
            reason=CareTeamReason.ASSIGNED,
            by=None,
        )

    def user_for(self, role: str):
        return {
            Role.PATIENT: self.patient.user,
            Role.CLINICIAN: self.clinician,
            Role.FRONT_DESK: self.front_desk,
            Role.PRACTICE_ADMIN: self.admin,
        }[Role(role)]


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.fixture(scope="module")
def world_rows(django_db_setup, django_db_blocker):
    """One World for a whole module, written in a transaction that is rolled back after the
    module's last test; each test's own transaction (pytest-django's db) is a savepoint inside
    it, so no test sees another's writes. Building the world per test cost more than most
    tests themselves. Only for modules with no transactional tests: their flush would empty
    the world (module_world refuses them)."""
    atomic = transaction.atomic()
    # Marked as Django's TestCase marks its own, so durable blocks in the code still nest.
    atomic._from_testcase = True  # type: ignore[attr-defined]
    with django_db_blocker.unblock():
        atomic.__enter__()
        try:
            built = World()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


def commits(item: pytest.Item) -> bool:
    """Whether a test runs outside a rolled-back transaction (its writes commit), as
    pytest-django decides it: the marker read by its own parser (`reset_sequences` implies a
    transactional test), or the fixtures that ask for one."""
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transactional, reset_sequences, *_options = validate_django_db(marker)
        if transactional or reset_sequences:
            return True
    return bool({"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())))


@pytest.fixture
def module_world(request, world_rows, db) -> World:
    """The module's World, as fresh objects for each test (as setUpTestData gives): a module
    opts in by defining `world` as this."""
    if commits(request.node):
        pytest.fail("module_world is for tests in a transaction; build a World for this one")
    return copy.deepcopy(world_rows)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A module that uses module_world holds no test that commits: world_rows's transaction
    stays open on the connection until the module's last test, and a committing test run
    before then (any order but pytest-django's, which runs them last) would write beside it."""
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    for tests in modules.values():
        shared = any("module_world" in getattr(t, "fixturenames", ()) for t in tests)
        committing = [t.nodeid for t in tests if commits(t)]
        if shared and committing:
            raise pytest.UsageError(
                f"{committing[0]}: its module uses module_world, whose transaction stays open "
                "until the module's last test, and this test commits: "
                "move it to a module of its own"
            )


@pytest.fixture
def video_type(world):
    kind = AppointmentType.objects.create(
        practice=world.practice,
        name="Video visit",
        slug="video",
        modality=Modality.VIDEO,
        duration_minutes=20,
        buffer_after_minutes=10,
        minimum_notice_minutes=60,
    )
    provider = world.clinician.provider
    kind.providers.add(provider)
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=provider, weekday=d, start_time=time(8), end_time=time(18))
        for d in range(7)
    )
    return kind


@pytest.fixture
def without_session_cache(settings):
    """The session and the signed-in user read from the database on every request, as on the
    embedded default: for a page's query counts, which must not depend on whether an earlier
    request (or a change the test made in between) left the user's snapshot warm. The cache
    itself is pinned in tests/accounts/test_session_cache.py."""
    settings.SESSION_USER_CACHE = False
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


def sign_in(client, user, *, verified: bool = True):
    """Log in as `user`; staff (and enrolled patients) also pass the second factor."""
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if verified and device is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def current_totp(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture(autouse=True)
def empty_sms_outbox():
    from telehealth.notify.channels import LocmemSmsBackend

    LocmemSmsBackend.outbox = []
    yield LocmemSmsBackend.outbox


@pytest.fixture(autouse=True)
def fresh_health_results():
    """/healthz shares its checks' results for a second; a test sees its own dependencies."""
    from telehealth import health

    health.forget_results()


@pytest.fixture(autouse=True)
def fresh_user_snapshots():
    """Each test starts with none of the process's signed-in user snapshots: a test that changed
    a user and read them back left a snapshot of a change its rollback undid, tagged with a token
    still current in Redis, and a later test signing in as the same user (a module's shared
    World) would get it."""
    from telehealth.accounts import user_cache

    user_cache._snapshots.clear()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets the channel layer a new process would have. The Redis layer keeps the
    count of receives in flight, and the event loop they run on, across tests; a test whose
    loop closed with a receive still pending would otherwise refuse every later consumer with
    "Two event loops are trying to receive() on one channel layer at once!"."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def served_fhir_is_checked():
    """Every FHIR resource a test gets a mapper to build is checked as it is built: valid for
    its type's fhir.resources model and already in the form the model writes (JSON types,
    UTC instants with "Z", no nulls). The API serves the mappers' dicts without building the
    models (too slow per resource), so this is where a mapper emitting invalid FHIR fails."""
    from telehealth.fhir.registry import registered
    from tests.fhir.care import assert_served_form

    originals = [(mapper, mapper.to_fhir) for mapper in registered()]

    def checking(mapper, to_fhir):
        def built(row) -> dict:
            resource = to_fhir(row)
            assert_served_form(mapper, resource)
            return resource

        return built

    for mapper, to_fhir in originals:
        object.__setattr__(mapper, "to_fhir", checking(mapper, to_fhir))  # a frozen dataclass
    yield
    for mapper, to_fhir in originals:
        object.__setattr__(mapper, "to_fhir", to_fhir)
