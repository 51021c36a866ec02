import pytest

from tests.conftest import sign_in


@pytest.fixture
def fhir(client):
    """A client that reads FHIR JSON: `fhir.get(path, **params)` → (status, body)."""

    class Client:
        def as_user(self, user):
            sign_in(client, user)
            return self

        def get(self, path: str, **params):
            response = client.get(f"/fhir/R4/{path}", params)
            assert response["Content-Type"].startswith("application/fhir+json")
            return response.status_code, response.json()

        def url(self, url: str):
            response = client.get(url)
            return response.status_code, response.json()

    return Client()
