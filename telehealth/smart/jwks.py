"""A SMART client's public keys (JWKS): what may be registered, and which key checks an
assertion. Pure functions over jwcrypto; no database."""

import json

from django.utils.translation import gettext as _
from jwcrypto.common import JWException
from jwcrypto.jwk import JWK, JWKSet

# The signing algorithms SMART Backend Services requires servers to support.
ALGORITHMS = ("RS384", "ES384")
MIN_RSA_BITS = 2048


class JwksError(ValueError):
    pass


def signs_with(key: JWK, alg: str) -> bool:
    """Whether `key` can verify signatures made with `alg` (its own `alg`, when it names one,
    must agree)."""
    if key.get("alg") not in (None, alg):
        return False
    if key.get("use") not in (None, "sig"):
        return False
    if "key_ops" in key and "verify" not in key["key_ops"]:
        return False
    if alg == "RS384":
        return key["kty"] == "RSA" and key.get_op_key("verify").key_size >= MIN_RSA_BITS
    if alg == "ES384":
        return key["kty"] == "EC" and key.get("crv") == "P-384"
    return False


def parse_jwks(value: object) -> JWKSet:
    """The key set `value` (parsed JSON) holds, refused with a reason a practice admin can act
    on unless every key is a public RS384/ES384 signing key with a distinct kid."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list) or not value["keys"]:
        raise JwksError(_('Paste a JSON Web Key Set: an object with a non-empty "keys" list.'))
    try:
        keyset = JWKSet.from_json(json.dumps(value))
    except (JWException, ValueError, TypeError, KeyError) as error:
        raise JwksError(_("The key set could not be read: %(error)s") % {"error": error}) from None
    kids: set[str] = set()
    for key in keyset:
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid:
            raise JwksError(_('Every key needs a "kid" (key id): the client names it.'))
        if key.has_private or key["kty"] == "oct":
            raise JwksError(
                _("Key %(kid)s holds private or secret material. Register only public keys.")
                % {"kid": kid}
            )
        if not any(signs_with(key, alg) for alg in ALGORITHMS):
            raise JwksError(
                _(
                    "Key %(kid)s cannot verify RS384 or ES384 signatures: use an RSA key of "
                    "2048 bits or more, or an EC key on the P-384 curve, for signing."
                )
                % {"kid": kid}
            )
        if kid in kids:
            raise JwksError(_("Two keys share the kid %(kid)s.") % {"kid": kid})
        kids.add(kid)
    return keyset


def signing_key(jwks: object, *, kid: str, alg: str) -> JWK | None:
    """The registered key named `kid`, if it verifies `alg` signatures."""
    try:
        keyset = parse_jwks(jwks)
    except JwksError:
        return None
    key = keyset.get_key(kid)
    if key is None or not signs_with(key, alg):
        return None
    return key
