"""A SMART backend client as a vendor would run one: its own key pair (jwcrypto), a signed
assertion, the token endpoint, then the FHIR API with the token."""

import base64
import json
import time
import uuid
from dataclasses import dataclass

import pytest
from jwcrypto import jwk, jwt

from telehealth.smart import services
from telehealth.smart.models import SmartClient

TOKEN_URL = "http://testserver/oauth/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Vendor:
    """A client's private keys (kept by the vendor) and its registration (kept by us)."""

    client: SmartClient
    keys: dict[str, jwk.JWK]  # alg -> private key

    @property
    def client_id(self) -> str:
        return self.client.application.client_id

    def claims(self, **changes) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "exp": now + 240,
            "jti": uuid.uuid4().hex,
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def assertion(self, alg: str = "RS384", *, key: jwk.JWK | None = None, **changes) -> str:
        key = key or self.keys[alg]
        token = jwt.JWT(
            header={"alg": alg, "kid": key["kid"], "typ": "JWT"}, claims=self.claims(**changes)
        )
        token.make_signed_token(key)
        return token.serialize()

    def token_request(self, assertion: str, scope: str = "system/Patient.rs") -> dict:
        return {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        }


def unsigned(header: dict, claims: dict, signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def key_pair(alg: str, kid: str) -> jwk.JWK:
    if alg == "RS384":
        return jwk.JWK.generate(kty="RSA", size=2048, kid=kid, alg=alg, use="sig")
    return jwk.JWK.generate(kty="EC", crv="P-384", kid=kid, alg=alg, use="sig")


def public_jwks(*keys: jwk.JWK) -> dict:
    return {"keys": [json.loads(key.export_public()) for key in keys]}


def register(practice, name: str, *, scopes: str, keys: dict[str, jwk.JWK], by=None) -> Vendor:
    client = services.smart_client_register(
        client=SmartClient(
            practice=practice, name=name, jwks=public_jwks(*keys.values()), scopes=scopes
        ),
        by=by,
    )
    return Vendor(client=client, keys=keys)


@pytest.fixture(scope="session")
def vendor_keys() -> dict[str, jwk.JWK]:
    # RSA generation is slow; one pair per test session is plenty.
    return {"RS384": key_pair("RS384", "rsa-1"), "ES384": key_pair("ES384", "ec-1")}


@pytest.fixture(scope="session")
def outsider_keys() -> dict[str, jwk.JWK]:
    return {"RS384": key_pair("RS384", "rsa-b"), "ES384": key_pair("ES384", "ec-b")}


@pytest.fixture
def vendor(world, vendor_keys) -> Vendor:
    return register(
        world.practice,
        "Regional EHR",
        scopes="system/Patient.rs system/Observation.rs system/Practitioner.read",
        keys=vendor_keys,
        by=world.admin,
    )


@pytest.fixture
def outside_vendor(world, outsider_keys) -> Vendor:
    return register(
        world.outside_practice, "Beta warehouse", scopes="system/*.rs", keys=outsider_keys
    )


@pytest.fixture
def get_token(client):
    """POST to the token endpoint: (status, JSON body)."""

    def post(data: dict) -> tuple[int, dict]:
        response = client.post("/oauth/token", data)
        assert response["Content-Type"].startswith("application/json")
        return response.status_code, response.json()

    return post


@pytest.fixture
def bearer(client):
    """GET a FHIR path with a Bearer token: the response."""

    def get(path: str, token: str, **params):
        return client.get(f"/fhir/R4/{path}", params, HTTP_AUTHORIZATION=f"Bearer {token}")

    return get
