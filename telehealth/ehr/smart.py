"""Our side of SMART App Launch as a client of an EHR's authorization server: its discovery
document, PKCE, the authorize redirect, the code exchange, the id_token check and reads of the
launch context. Plain functions over `requests`; nothing here touches the database.

Only URLs derived from a registered `iss` (or named by that EHR's own discovery document) are
ever fetched, over https unless the origin is listed in EHR_INSECURE_ORIGINS (tests), with
short timeouts, no redirects followed and a cap on the size of what is read."""

import base64
import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from jwcrypto import jwk, jws, jwt
from jwcrypto.common import JWException

from telehealth.net import addresses_of, is_public_address

TIMEOUT = (3.05, 10)  # connect, read (seconds)
MAX_BYTES = 1024 * 1024
ID_TOKEN_ALGS = ["RS256", "RS384", "ES256", "ES384"]


class SmartError(Exception):
    """The EHR cannot be used for this launch; `message` is shown to the clinician."""

    def __init__(self, message: str, *, status: int = 502):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SmartConfiguration:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    issuer: str

    def as_session(self) -> dict:
        return asdict(self)


def normalise_iss(value: str) -> str:
    """The form we store and compare: scheme and host lower-cased, no trailing slash, no
    query or fragment. Empty when `value` is not an absolute http(s) URL."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    if parts.query or parts.fragment or parts.username or parts.password:
        return ""
    netloc = parts.hostname.lower()
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def origin_allowed(url: str) -> bool:
    """https to a host on the public internet; plain http, or a private, loopback or
    link-local address, only for an origin the server's operator listed in
    EHR_INSECURE_ORIGINS. A practice admin alone cannot point the server at its own network
    (server-side request forgery), whatever name or address they register, and neither can
    an EHR's configuration naming its endpoints."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in settings.EHR_INSECURE_ORIGINS:
        return parts.scheme in ("http", "https")
    if parts.scheme != "https" or not parts.hostname:
        return False
    try:
        addresses = addresses_of(parts.hostname, parts.port or 443)
    except (OSError, UnicodeError, ValueError):
        return False
    return bool(addresses) and all(is_public_address(address) for address in addresses)


def _checked_url(url: object, what: str) -> str:
    if not isinstance(url, str) or not origin_allowed(url):
        raise SmartError(
            _("The EHR's %(what)s is missing or not an https address.") % {"what": what}
        )
    return url


def _read_json(response: requests.Response, what: str) -> dict:
    body = b""
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_BYTES:
            raise SmartError(_("The EHR's %(what)s is too large.") % {"what": what})
    try:
        data = json.loads(body)
    except ValueError:
        raise SmartError(_("The EHR's %(what)s is not JSON.") % {"what": what}) from None
    if not isinstance(data, dict):
        raise SmartError(_("The EHR's %(what)s is not a JSON object.") % {"what": what})
    return data


def _get_json(url: str, what: str, *, token: str = "", accept: str = "application/json") -> dict:
    _checked_url(url, what)
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with requests.get(
            url, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True
        ) as response:
            if response.status_code != 200:
                raise SmartError(
                    _("The EHR answered %(status)s for its %(what)s.")
                    % {"status": response.status_code, "what": what}
                )
            return _read_json(response, what)
    except requests.RequestException:
        raise SmartError(
            _("The EHR could not be reached for its %(what)s.") % {"what": what}
        ) from None


def smart_configuration(iss: str) -> SmartConfiguration:
    """The EHR's `/.well-known/smart-configuration`, checked for what an EHR launch needs:
    both endpoints, S256 PKCE, and where its id_token keys are (the SMART document's
    `jwks_uri`, else its OpenID configuration's)."""
    config = _get_json(f"{iss}/.well-known/smart-configuration", _("SMART configuration"))
    authorize = _checked_url(config.get("authorization_endpoint"), _("authorization endpoint"))
    token = _checked_url(config.get("token_endpoint"), _("token endpoint"))
    methods = config.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        raise SmartError(_("The EHR does not support PKCE with S256, which this app requires."))
    jwks_uri = config.get("jwks_uri")
    issuer = config.get("issuer")
    if not jwks_uri or not issuer:
        openid = _get_json(f"{iss}/.well-known/openid-configuration", _("OpenID configuration"))
        jwks_uri = jwks_uri or openid.get("jwks_uri")
        issuer = issuer or openid.get("issuer")
    return SmartConfiguration(
        authorization_endpoint=authorize,
        token_endpoint=token,
        jwks_uri=_checked_url(jwks_uri, _("key set (jwks_uri)")),
        issuer=issuer if isinstance(issuer, str) and issuer else iss,
    )


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636: 43 to 128 characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    config: SmartConfiguration,
    *,
    iss: str,
    client_id: str,
    redirect_uri: str,
    launch: str,
    scope: str,
    state: str,
    challenge: str,
) -> str:
    parts = urlsplit(config.authorization_endpoint)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "launch": launch,
            "scope": scope,
            "state": state,
            "aud": iss,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def exchange_code(
    *,
    token_endpoint: str,
    code: str,
    verifier: str,
    redirect_uri: str,
    client_id: str,
    client_secret: str = "",
) -> dict:
    """The token response. A confidential client authenticates with HTTP Basic (the SMART
    "confidential symmetric" profile); a public one names itself with client_id."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth = None
    if client_secret:
        auth = (client_id, client_secret)
    else:
        data["client_id"] = client_id
    _checked_url(token_endpoint, _("token endpoint"))
    try:
        with requests.post(
            token_endpoint,
            data=data,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
            allow_redirects=False,
            stream=True,
        ) as response:
            body = _read_json(response, _("token response"))
            status = response.status_code
    except requests.RequestException:
        raise SmartError(_("The EHR could not be reached to exchange the code.")) from None
    if status != 200:
        raise SmartError(
            _("The EHR refused the code exchange (%(error)s: %(description)s).")
            % {
                "error": str(body.get("error", status))[:100],
                "description": str(body.get("error_description", ""))[:300],
            },
            status=400,
        )
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise SmartError(_("The EHR's token response has no access token."))
    return body


def verify_id_token(id_token: str, *, jwks_uri: str, issuer: str, client_id: str) -> dict:
    """The id_token's claims, once its signature (a key of the EHR's JWKS), issuer, audience
    (our client id) and expiry have been checked."""
    keys = jwk.JWKSet.from_json(json.dumps(_get_json(jwks_uri, _("key set"))))
    try:
        token = jwt.JWT(
            jwt=id_token,
            key=keys,
            algs=ID_TOKEN_ALGS,
            check_claims={"iss": issuer, "aud": client_id, "exp": None},
        )
        claims = json.loads(token.claims)
    except (jwt.JWTMissingKey, jws.InvalidJWSSignature):
        raise _refused(_("its signature matches none of the EHR's published keys")) from None
    except jwt.JWTExpired:
        raise _refused(_("it has expired")) from None
    except (JWException, ValueError) as error:
        raise _refused(str(error)) from None
    if not isinstance(claims, dict):
        raise SmartError(_("The EHR's identity token was refused."), status=400)
    return claims


def _refused(reason: str) -> SmartError:
    return SmartError(
        _("The EHR's identity token was refused: %(reason)s.") % {"reason": reason}, status=400
    )


def fhir_read(iss: str, reference: str, *, token: str) -> dict:
    """A resource of the launching EHR, named relative to its base ("Patient/123") or as an
    absolute URL under that base; nothing outside the base is fetched."""
    if reference.startswith(("http://", "https://")):
        if not reference.startswith(f"{iss}/"):
            raise SmartError(_("The EHR named a resource outside its own FHIR server."), status=400)
        url = reference
    else:
        type_, _sep, id_ = reference.partition("/")
        if not type_.isalpha() or not id_ or "/" in id_ or id_ in (".", ".."):
            raise SmartError(_("The EHR named a resource this app cannot read."), status=400)
        url = f"{iss}/{type_}/{id_}"
    return _get_json(url, reference.rsplit("/", 2)[-2], token=token, accept="application/fhir+json")
