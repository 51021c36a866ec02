"""Pictures patients text (MMS): what Twilio's webhook lists, and fetching one from Twilio.

The webhook names each file as MediaUrl{N} with MediaContentType{N}, N from 0 to NumMedia-1.
A media URL answers with the account's credentials (HTTP basic auth, when the account
enforces it) and usually redirects to a short-lived CDN address; the credentials go to the
first host only. Only hosts in TWILIO_MEDIA_HOSTS are fetched from, and a redirect is
followed only to those or, over HTTPS, to a host in TWILIO_MEDIA_REDIRECT_HOSTS, so a forged
or mistaken URL cannot make the server fetch from elsewhere.

The reasons a fetch failed are kept for staff to read, so they never quote the URL: a signed
CDN address is as good as the picture itself."""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

MAX_MEDIA = 10  # Twilio's own limit per message
MAX_REDIRECTS = 3
TIMEOUT = (5, 30)  # seconds to connect, seconds between bytes
# The whole fetch, all hops and bytes: a slow trickle never outlasts the worker's lease
# (messaging.sms_media.LEASE, five minutes); the last read may overrun it by one TIMEOUT.
DEADLINE = 120


@dataclass(frozen=True)
class Media:
    url: str
    content_type: str  # as Twilio declared it; the file's bytes decide what it is


class MediaFetchError(Exception):
    """A file not fetched; `transient` says whether trying later may help."""

    def __init__(self, message: str, *, transient: bool):
        super().__init__(message)
        self.transient = transient


def media_from_webhook(params: Mapping[str, str]) -> list[Media]:
    """The files an inbound message lists, in Twilio's order (at most MAX_MEDIA)."""
    try:
        count = int(params.get("NumMedia", "0") or 0)
    except ValueError:
        return []
    found = []
    for n in range(min(max(count, 0), MAX_MEDIA)):
        url = (params.get(f"MediaUrl{n}") or "").strip()
        if url:
            found.append(Media(url[:500], (params.get(f"MediaContentType{n}") or "")[:100]))
    return found


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def allowed_origins() -> set[str]:
    return {
        _origin(host if "://" in host else f"https://{host}")
        for host in settings.TWILIO_MEDIA_HOSTS
    }


def media_allowed(url: str) -> bool:
    try:
        return _origin(url) in allowed_origins()
    except ValueError:  # a port that is not a number
        return False


def redirect_allowed(url: str) -> bool:
    """A redirect may go to a media host, or over HTTPS (default port) to a listed CDN host;
    an entry "*.example.com" stands for any host under example.com."""
    if media_allowed(url):
        return True
    try:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.port not in (None, 443):
            return False
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    for entry in settings.TWILIO_MEDIA_REDIRECT_HOSTS:
        entry = entry.lower()
        if host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def _reason(exc: requests.RequestException) -> str:
    """What went wrong, without the exception's text (which quotes the URL)."""
    if isinstance(exc, requests.Timeout):
        return "The media host did not answer in time."
    return "The connection failed."


def fetch_media(url: str, *, max_bytes: int) -> bytes:
    """The file at a Twilio media URL, following redirects (credentials only to the URL's own
    host, never to where it redirects). A file over `max_bytes` comes back cut at
    max_bytes + 1, for the caller's size check to refuse. Raises MediaFetchError."""
    if not media_allowed(url):
        raise MediaFetchError("The media address is not Twilio's.", transient=False)
    first = _origin(url)
    give_up_at = time.monotonic() + DEADLINE
    credentials = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    for _hop in range(MAX_REDIRECTS + 1):
        auth = credentials if _origin(url) == first and all(credentials) else None
        try:
            response = requests.get(
                url, auth=auth, allow_redirects=False, stream=True, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise MediaFetchError(_reason(exc), transient=True) from exc
        with response:
            if response.is_redirect:
                target = urljoin(url, response.headers.get("Location", ""))
                if not redirect_allowed(target):
                    raise MediaFetchError(
                        "Redirected to a host that is not Twilio's (TWILIO_MEDIA_REDIRECT_HOSTS).",
                        transient=False,
                    )
                url = target
                continue
            return _body(response, max_bytes=max_bytes, give_up_at=give_up_at)
    raise MediaFetchError("Too many redirects.", transient=False)


def _body(response: requests.Response, *, max_bytes: int, give_up_at: float) -> bytes:
    status = response.status_code
    if status == 429 or status >= 500:
        raise MediaFetchError(f"The media host answered {status}.", transient=True)
    if status != 200:
        raise MediaFetchError(f"The media host answered {status}.", transient=False)
    data = bytearray()
    try:
        for chunk in response.iter_content(64 * 1024):
            data += chunk
            if len(data) > max_bytes:
                break  # one byte over is enough for the caller's size check to refuse it
            if time.monotonic() > give_up_at:
                raise MediaFetchError("The download took too long.", transient=True)
    except requests.RequestException as exc:
        raise MediaFetchError("The download broke off.", transient=True) from exc
    return bytes(data[: max_bytes + 1])
