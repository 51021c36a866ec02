"""fhirpy, an independent FHIR client, drives the live server as an integration would: a SMART
backend token, a search followed across its next links, a create, and a transaction Bundle."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connections
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome as FhirpyOutcome

from telehealth.accounts.models import Patient
from tests.asgi_server import AsgiServer
from tests.conftest import make_patient
from tests.smart.conftest import key_pair, register

pytestmark = pytest.mark.django_db(transaction=True)


def _set_up(world, vendor_keys):
    for n in range(5):
        make_patient(world.practice, f"Paging Patient{n}", f"paging{n}@example.com", login=False)
    vendor = register(
        world.practice,
        "Independent client",
        scopes="system/Patient.cruds system/Observation.rs",
        keys=vendor_keys,
        by=world.admin,
    )
    expected = {
        str(pk)
        for pk in Patient.objects.filter(practice=world.practice).values_list("pk", flat=True)
    }
    connections.close_all()  # the live server shares the small pool
    return vendor, expected


def _token(server: AsgiServer, vendor) -> str:
    token_url = f"{server.url}/oauth/token"
    request = vendor.token_request(
        vendor.assertion("ES384", aud=token_url), scope="system/Patient.cruds"
    )
    response = requests.post(token_url, data=request, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_fhirpy_searches_pages_creates_and_sends_a_transaction(world):
    vendor_keys = {"ES384": key_pair("ES384", "ec-fhirpy")}
    with ThreadPoolExecutor(1) as pool:
        vendor, expected = pool.submit(_set_up, world, vendor_keys).result()
    with AsgiServer() as server:
        client = SyncFHIRClient(
            f"{server.url}/fhir/R4", authorization=f"Bearer {_token(server, vendor)}"
        )

        # Search, two per page: fhirpy follows our next links to the end.
        found = client.resources("Patient").limit(2).fetch_all()
        assert len(found) == len(expected) >= 7
        assert {patient.id for patient in found} == expected  # this practice's, each once

        by_name = client.resources("Patient").search(name="Paging").fetch_all()
        assert len(by_name) == 5

        # Create: fhirpy POSTs and reads back the id we assign.
        created = client.resource(
            "Patient",
            name=[{"use": "official", "text": "Grace Independent", "family": "Independent"}],
            gender="female",
            birthDate="1961-04-12",
            telecom=[{"system": "email", "value": "grace@example.com"}],
        )
        created.save()
        assert created.id and created["meta"]["versionId"]
        assert client.resources("Patient").search(_id=created.id).get()["birthDate"] == "1961-04-12"

        # A transaction: all or nothing.
        def entry(text: str, birth: str) -> dict:
            resource = {"resourceType": "Patient", "name": [{"text": text}], "birthDate": birth}
            return {"resource": resource, "request": {"method": "POST", "url": "Patient"}}

        answer = client.execute(
            "/",
            data={
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [entry("Ada Bundle", "1990-01-02"), entry("Bo Bundle", "1991-02-03")],
            },
        )
        assert answer["type"] == "transaction-response"
        assert [e["response"]["status"][:3] for e in answer["entry"]] == ["201", "201"]
        with pytest.raises(FhirpyOutcome):
            client.execute(
                "/",
                data={
                    "resourceType": "Bundle",
                    "type": "transaction",
                    "entry": [entry("Cy Bundle", "1992-03-04"), entry("Dee Bundle", "2990-01-01")],
                },
            )
    assert Patient.objects.filter(legal_name__endswith="Bundle").count() == 2  # not Cy, not Dee
