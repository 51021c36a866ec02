"""A stand-in EHR for the launch tests: a SMART authorization server and a FHIR server in one
small WSGI app, served on a free localhost port in a thread. It issues real tokens (the
id_token is signed with its own RSA key, published in its JWKS), checks PKCE S256 and the
client's credentials like a real one, and serves the published FHIR examples of Patient,
Practitioner and Encounter with the identifiers a test asks for."""

import base64
import copy
import functools
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from jwcrypto import jwk, jwt

from tests.threaded_server import serve_in_thread

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "fhir"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"


@functools.cache
def rsa_key(owner: str) -> jwk.JWK:
    """One 2048-bit key per owner for the whole run (generating one takes a while): the
    stand-in's own, or the foreign key a test signs a forged id_token with."""
    return jwk.JWK.generate(kty="RSA", size=2048, kid="standin-1")


def published(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class StandInEhr:
    client_id: str = "telehealth-app"
    client_secret: str = ""  # set: a confidential client, checked with HTTP Basic
    code_challenge_methods: list = field(default_factory=lambda: ["S256"])
    patient_identifiers: list = field(default_factory=list)
    practitioner_npi: str | None = None
    encounter_identifiers: list = field(default_factory=list)
    # id_token faults a test may ask for
    id_token_aud: str | None = None
    id_token_exp_offset: int = 300
    id_token_foreign_key: bool = False
    requests: list = field(default_factory=list)  # (method, path, query or form) of each call
    authorized: list = field(default_factory=list)  # the /authorize queries it accepted

    def __post_init__(self) -> None:
        self.key = rsa_key("standin")
        self.codes: dict[str, dict] = {}
        self.tokens: set[str] = set()
        self.port = 0

    # Addresses

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def iss(self) -> str:
        return f"{self.origin}/fhir"

    # Serving

    def start(self) -> None:
        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

        self.server: WSGIServer = make_server("127.0.0.1", 0, self.app, handler_class=Quiet)
        self.port = self.server.server_port
        self.thread = serve_in_thread(self.server)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def app(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        form: dict = {}
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode()
            form = {k: v[0] for k, v in parse_qs(body).items()}
        self.requests.append((method, path, query or form))
        status, headers, payload = self.route(method, path, query, form, environ)
        start_response(status, headers)
        return [payload]

    def route(self, method, path, query, form, environ):
        if path == "/fhir/.well-known/smart-configuration":
            return self.json(self.smart_configuration())
        if path == "/jwks":
            return self.json({"keys": [json.loads(self.key.export_public())]})
        if path == "/authorize":
            return self.authorize(query)
        if path == "/token" and method == "POST":
            return self.token(form, environ.get("HTTP_AUTHORIZATION", ""))
        if path.startswith("/fhir/"):
            return self.fhir(path.removeprefix("/fhir/"), environ.get("HTTP_AUTHORIZATION", ""))
        return self.json({"error": "not_found"}, "404 Not Found")

    @staticmethod
    def json(data, status="200 OK"):
        body = json.dumps(data).encode()
        return status, [("Content-Type", "application/json")], body

    # SMART

    def smart_configuration(self) -> dict:
        return {
            "issuer": self.iss,
            "jwks_uri": f"{self.origin}/jwks",
            "authorization_endpoint": f"{self.origin}/authorize",
            "token_endpoint": f"{self.origin}/token",
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "scopes_supported": ["openid", "fhirUser", "launch", "patient/*.read"],
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": self.code_challenge_methods,
            "capabilities": ["launch-ehr", "client-public", "client-confidential-symmetric"],
        }

    def authorize(self, query: dict):
        """Auto-approves a well-formed request: back to the redirect URI with a code."""
        problems = [
            name
            for name, ok in (
                ("response_type", query.get("response_type") == "code"),
                ("client_id", query.get("client_id") == self.client_id),
                ("aud", query.get("aud") == self.iss),
                ("launch", bool(query.get("launch"))),
                ("code_challenge_method", query.get("code_challenge_method") == "S256"),
                ("code_challenge", bool(query.get("code_challenge"))),
                ("redirect_uri", bool(query.get("redirect_uri"))),
                ("state", bool(query.get("state"))),
            )
            if not ok
        ]
        if problems:
            return self.json({"error": "invalid_request", "bad": problems}, "400 Bad Request")
        self.authorized.append(query)
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        location = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return "302 Found", [("Location", location)], b""

    def token(self, form: dict, authorization: str):
        if self.client_secret:
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if authorization != f"Basic {expected}":
                return self.json({"error": "invalid_client"}, "401 Unauthorized")
        elif form.get("client_id") != self.client_id:
            return self.json({"error": "invalid_client"}, "401 Unauthorized")
        asked = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or asked is None:
            return self.json({"error": "invalid_grant"}, "400 Bad Request")
        if form.get("redirect_uri") != asked["redirect_uri"]:
            return self.json({"error": "invalid_grant"}, "400 Bad Request")
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != asked["code_challenge"]:
            return self.json(
                {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                "400 Bad Request",
            )
        access_token = secrets.token_urlsafe(24)
        self.tokens.add(access_token)
        return self.json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": asked["scope"],
                "patient": "example",
                "encounter": "example",
                "need_patient_banner": False,
                "id_token": self.id_token(),
            }
        )

    def id_token(self) -> str:
        now = int(time.time())
        key = rsa_key("foreign") if self.id_token_foreign_key else self.key
        token = jwt.JWT(
            header={"alg": "RS256", "kid": "standin-1"},
            claims={
                "iss": self.iss,
                "sub": "practitioner-example",
                "aud": self.id_token_aud or self.client_id,
                "iat": now,
                "exp": now + self.id_token_exp_offset,
                "fhirUser": f"{self.iss}/Practitioner/example",
            },
        )
        token.make_signed_token(key)
        return token.serialize()

    # FHIR

    def fhir(self, path: str, authorization: str):
        if authorization.removeprefix("Bearer ") not in self.tokens:
            return self.json({"resourceType": "OperationOutcome"}, "401 Unauthorized")
        if path == "Patient/example":
            patient = published("patient-example.json")
            patient["identifier"] = patient["identifier"] + self.patient_identifiers
            Patient.model_validate(patient)  # served only if it is valid R4
            return self.json(patient)
        if path == "Practitioner/example":
            practitioner = copy.deepcopy(published("practitioner-example.json"))
            if self.practitioner_npi:
                practitioner["identifier"].append(
                    {"system": NPI_SYSTEM, "value": self.practitioner_npi}
                )
            Practitioner.model_validate(practitioner)  # served only if it is valid R4
            return self.json(practitioner)
        if path == "Encounter/example":
            encounter = published("encounter-example.json")
            if self.encounter_identifiers:
                encounter["identifier"] = self.encounter_identifiers
            Encounter.model_validate(encounter)  # served only if it is valid R4
            return self.json(encounter)
        return self.json({"resourceType": "OperationOutcome"}, "404 Not Found")
