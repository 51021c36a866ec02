"""How clients find the authorization server: .well-known/smart-configuration and the
CapabilityStatement's security; and the CSRF rule for Bearer requests."""

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from telehealth.fhir.auth import OAUTH_URIS, SECURITY_SERVICE_SYSTEM


@pytest.mark.parametrize(
    "path", ["/.well-known/smart-configuration", "/fhir/R4/.well-known/smart-configuration"]
)
def test_smart_configuration_describes_backend_services(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    config = response.json()
    assert config["token_endpoint"] == "http://testserver/oauth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["grant_types_supported"] == ["client_credentials"]
    assert set(config["capabilities"]) == {
        "client-confidential-asymmetric",
        "permission-v1",
        "permission-v2",
    }
    # Per type what it offers: Patient is also written, Practitioner only read.
    for scope in (
        "system/*.rs",
        "system/Patient.crus",
        "system/Practitioner.rs",
        "system/Observation.read",
    ):
        assert scope in config["scopes_supported"]


def test_capability_statement_names_smart_and_the_token_endpoint(client, db):
    statement = client.get("/fhir/R4/metadata").json()
    CapabilityStatement.model_validate(statement)
    security = statement["rest"][0]["security"]
    codings = [coding for service in security["service"] for coding in service["coding"]]
    assert codings == [{"system": SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}]
    (oauth_uris,) = [ext for ext in security["extension"] if ext["url"] == OAUTH_URIS]
    assert oauth_uris["extension"] == [
        {"url": "token", "valueUri": "http://testserver/oauth/token"}
    ]
