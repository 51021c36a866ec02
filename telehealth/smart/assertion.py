"""The client assertion of SMART Backend Services (RFC 7523 section 2.2, private_key_jwt):
a JWT the client signs with one of its registered keys to authenticate at the token endpoint.
https://hl7.org/fhir/smart-app-launch/backend-services.html#authenticating-to-the-token-endpoint

Pure checks; finding the client and spending the `jti` are the caller's (telehealth.smart.oauth)."""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jwcrypto.common import JWException
from jwcrypto.jws import JWS

from telehealth.smart.jwks import ALGORITHMS, signing_key

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The spec's bound on `exp`; a client whose clock runs a little ahead is not refused for it.
MAX_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)


class AssertionRejected(Exception):
    """Why an assertion does not authenticate its client (said to the client as
    invalid_client; it names no key material)."""


@dataclass(frozen=True)
class Assertion:
    client_id: str
    jti: str
    expires_at: datetime


def _segment(part: str) -> dict:
    try:
        decoded = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(decoded)
    except (binascii.Error, ValueError):
        raise AssertionRejected("The client assertion is not a JWT.") from None
    if not isinstance(value, dict):
        raise AssertionRejected("The client assertion is not a JWT.")
    return value


def unverified_issuer(token: str) -> str:
    """The `iss` the assertion claims, read before any check: it says whose keys to verify it
    with, and nothing else is believed until they have."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AssertionRejected("The client assertion is not a signed JWT (JWS compact form).")
    issuer = _segment(parts[1]).get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise AssertionRejected("The client assertion names no issuer (iss).")
    return issuer


def verify(token: str, *, client_id: str, jwks: object, audience: str, now: datetime) -> Assertion:
    """Check the signature with the client's key named by `kid`, then the claims: iss and sub
    are the client, aud is this token endpoint, exp is in the future but no more than five
    minutes ahead, and there is a jti."""
    header = _segment(token.split(".")[0])
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise AssertionRejected("The client assertion must be signed with RS384 or ES384.")
    if not isinstance(kid, str) or not kid:
        raise AssertionRejected("The client assertion's header names no key (kid).")
    key = signing_key(jwks, kid=kid, alg=alg)
    if key is None:
        raise AssertionRejected(f"The client has no registered {alg} key with this kid.")
    signed = JWS()
    signed.allowed_algs = [alg]
    try:
        signed.deserialize(token)
        signed.verify(key, alg=alg)
        claims = json.loads(signed.payload)
    except (JWException, ValueError):
        raise AssertionRejected("The client assertion's signature does not verify.") from None
    if not isinstance(claims, dict):
        raise AssertionRejected("The client assertion's claims are not a JSON object.")
    return _checked_claims(claims, client_id=client_id, audience=audience, now=now)


def _checked_claims(claims: dict, *, client_id: str, audience: str, now: datetime) -> Assertion:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionRejected("The client assertion's iss and sub must both be the client_id.")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise AssertionRejected(f"The client assertion's aud must be {audience}.")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise AssertionRejected("The client assertion has no expiry (exp).")
    try:
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise AssertionRejected("The client assertion's exp is not a time.") from None
    if expires_at <= now:
        raise AssertionRejected("The client assertion has expired.")
    if expires_at > now + MAX_LIFETIME + CLOCK_SKEW:
        raise AssertionRejected("The client assertion's exp is more than five minutes ahead.")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # optional claims, believed only when they are times
        if value > (now + CLOCK_SKEW).timestamp():
            raise AssertionRejected(f"The client assertion's {name} is in the future.")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 255:
        raise AssertionRejected("The client assertion needs a jti of 1 to 255 characters.")
    return Assertion(client_id=client_id, jti=jti, expires_at=expires_at)
