"""Practice isolation for every registered FHIR type, walked from the registry: practice B's
staff, its patients and its SMART backend client never read, vread or find practice A's rows,
while A's admin reads them (so each check could fail). tests/fhir/rows.py makes one row of each
type in a practice; a type registered without a maker there fails the first test."""

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from telehealth.fhir.registry import mapper_for, registered
from tests.conftest import sign_in
from tests.fhir.rows import MAKERS, Side, search_params, side_a, side_b
from tests.smart.conftest import key_pair, register

pytestmark = pytest.mark.django_db

TYPES = [mapper.resource_type for mapper in registered()]
VERSIONED = [mapper.resource_type for mapper in registered() if mapper.version is not None]


def test_every_registered_type_has_a_row_maker():
    assert set(TYPES) - MAKERS.keys() == set(), "registered types with no maker in rows.py"
    assert MAKERS.keys() - set(TYPES) == set(), "makers of types no longer registered"


def test_the_walk_covers_the_versioned_types():
    # vread is only checked on versioned types: if none were left, it would check nothing.
    assert {"Appointment", "Patient"} <= set(VERSIONED)


def make(resource_type: str, side: Side) -> str:
    maker = MAKERS.get(resource_type)
    if maker is None:
        pytest.fail(f"{resource_type} is registered but tests/fhir/rows.py has no maker for it")
    return maker(side)


def version_of(resource_type: str, user, resource_id: str) -> str:
    mapper = mapper_for(resource_type)
    assert mapper is not None and mapper.version is not None
    return mapper.version(mapper.lookup(user, resource_id))


@pytest.fixture(scope="module")
def world_rows(world_rows, django_db_blocker):
    """The module's world (tests/conftest.py), with practice B's provider and admin made once."""
    with django_db_blocker.unblock():
        side_b(world_rows)
    return world_rows


@pytest.fixture
def world(module_world):
    return module_world


class Rows:
    def __init__(self, world):
        self.a, self.b = side_a(world), side_b(world)

    def both(self, resource_type: str) -> tuple[str, str]:
        """A row of the type in practice A and one in practice B: their ids."""
        return make(resource_type, self.a), make(resource_type, self.b)


@pytest.fixture
def rows(world) -> Rows:
    return Rows(world)


@pytest.fixture
def as_user(client):
    """GET a FHIR path signed in as `user` (None: with the current credentials)."""

    def get(user, path: str, **params):
        if user is not None:
            sign_in(client, user)
        response = client.get(f"/fhir/R4/{path}", params)
        assert response["Content-Type"].startswith("application/fhir+json"), response.content
        return response

    return get


def refused(response) -> None:
    assert response.status_code == 404, response.content
    OperationOutcome.model_validate(response.json())


def found_ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    bundle = response.json()
    Bundle.model_validate(bundle)
    return {entry["resource"]["id"] for entry in bundle.get("entry", [])}


def outsiders(rows, world) -> dict:
    return {
        "B's admin": rows.b.admin,
        "B's clinician": rows.b.clinician,
        "B's patient": world.outside_patient.user,
    }


@pytest.mark.parametrize("resource_type", TYPES)
def test_practice_b_never_reads_or_finds_practice_as_row(as_user, rows, world, resource_type):
    mine, theirs = rows.both(resource_type)
    read = as_user(rows.a.admin, f"{resource_type}/{mine}")
    assert read.status_code == 200, read.content
    assert read.json()["id"] == mine
    params = {**search_params(resource_type), "_count": "200"}
    assert mine in found_ids(as_user(None, resource_type, **params))

    for who, user in outsiders(rows, world).items():
        refused(as_user(user, f"{resource_type}/{mine}"))
        found = found_ids(as_user(user, resource_type, **params))
        assert mine not in found, who
        assert theirs in found, who  # the search does find rows: B's own
        by_id = as_user(user, resource_type, _id=mine, **search_params(resource_type))
        assert found_ids(by_id) == set(), who
        assert by_id.json()["total"] == 0, who


@pytest.mark.parametrize("resource_type", VERSIONED)
def test_practice_b_never_vreads_practice_as_row(as_user, rows, world, resource_type):
    mine, _theirs = rows.both(resource_type)
    version = version_of(resource_type, rows.a.admin, mine)
    path = f"{resource_type}/{mine}/_history/{version}"
    assert as_user(rows.a.admin, path).status_code == 200
    for user in outsiders(rows, world).values():
        refused(as_user(user, path))


# SMART backend services: a client of practice B with every read and search scope.


@pytest.fixture(scope="module")
def beta_keys():
    return {"ES384": key_pair("ES384", "iso-b")}


@pytest.fixture
def beta_token(client, world, beta_keys) -> str:
    vendor = register(
        world.outside_practice, "Beta warehouse", scopes="system/*.rs", keys=beta_keys
    )
    response = client.post(
        "/oauth/token", vendor.token_request(vendor.assertion("ES384"), scope="system/*.rs")
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.mark.parametrize("resource_type", TYPES)
def test_practice_bs_backend_client_never_reads_or_finds_practice_as_row(
    client, rows, beta_token, resource_type
):
    mine, theirs = rows.both(resource_type)

    def get(path: str, **params):
        return client.get(f"/fhir/R4/{path}", params, HTTP_AUTHORIZATION=f"Bearer {beta_token}")

    refused(get(f"{resource_type}/{mine}"))
    assert get(f"{resource_type}/{theirs}").status_code == 200  # the token does read
    found = found_ids(get(resource_type, _count="200", **search_params(resource_type)))
    assert mine not in found
    assert theirs in found
    assert found_ids(get(resource_type, _id=mine, **search_params(resource_type))) == set()
    if resource_type in VERSIONED:
        version = version_of(resource_type, rows.a.admin, mine)
        refused(get(f"{resource_type}/{mine}/_history/{version}"))
