"""ICE servers for browsers: STUN, and TURN with time-limited credentials in the coturn
REST-API scheme (username "<expiry>:<id>", password base64(HMAC-SHA1(secret, username)))."""

import base64
import hashlib
import hmac
import time

from django.conf import settings


def ice_servers(*, user_id: str) -> list[dict]:
    servers: list[dict] = []
    if settings.STUN_URLS:
        servers.append({"urls": settings.STUN_URLS})
    if settings.TURN_URLS and settings.TURN_SECRET:
        expiry = int(time.time()) + settings.TURN_CREDENTIAL_SECONDS
        username = f"{expiry}:{user_id}"
        digest = hmac.new(settings.TURN_SECRET.encode(), username.encode(), hashlib.sha1)
        servers.append(
            {
                "urls": settings.TURN_URLS,
                "username": username,
                "credential": base64.b64encode(digest.digest()).decode(),
            }
        )
    return servers
